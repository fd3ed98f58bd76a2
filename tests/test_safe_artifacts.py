"""Nothing glocal loads can run code when read: no module of the package reads a pickle.

(The benchmarks pickle the user's recipe on purpose: it is the reference they measure, and
they only read the files they wrote themselves.)
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "glocal"
UNSAFE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "joblib",
    "cloudpickle",
    "dill",
    "shelve",
    "marshal",
}
UNSAFE_CALLS = {"read_pickle", "to_pickle"}


def _problems(path: Path, root: Path = SOURCE) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]]
        else:
            names = []
        found += [f"imports {name}" for name in names if name in UNSAFE_MODULES]
        if isinstance(node, ast.Attribute) and node.attr in UNSAFE_CALLS:
            found.append(f"calls {node.attr}")
        safe = not (isinstance(node, ast.keyword) and node.arg == "allow_pickle") or (
            isinstance(node.value, ast.Constant) and node.value.value is False
        )
        if not safe:
            found.append("passes allow_pickle")
        # Numba's on-disk cache keeps its index as a pickle and loads it at import
        cached = isinstance(node, ast.keyword) and node.arg == "cache"
        if cached and not (isinstance(node.value, ast.Constant) and node.value.value is False):
            found.append("passes cache (Numba's cache index is a pickle)")
    return [f"{path.relative_to(root)}:{problem}" for problem in found]


def test_no_module_of_the_package_can_read_a_pickle() -> None:
    modules = sorted(SOURCE.rglob("*.py"))
    assert len(modules) > 50
    problems = [problem for module in modules for problem in _problems(module)]
    assert problems == []


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text(
        "import joblib\nfrom pickle import loads\nimport numpy as np\n"
        "frame = pd.read_pickle('x')\nnp.load('x', allow_pickle=True)\n"
        "@numba.njit(cache=True)\ndef f(): pass\n"
    )
    assert len(_problems(sample, tmp_path)) == 5
