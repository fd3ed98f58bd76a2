"""The working directory layout that every command reads from and writes to."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from glocal.config.loader import load_settings
from glocal.config.settings import Settings
from glocal.core.atomic import write_text_atomic
from glocal.core.errors import WorkspaceError
from glocal.core.storage import ObjectStore

__all__ = ["Workspace", "settings_template"]

_LAYOUT = (
    "config",
    "data/raw",
    "data/processed",
    "data/versions",
    "models/global",
    "models/local",
    "models/bundles",
    "predictions/daily",
    "predictions/batch",
    "evaluation",
    "logs",
)


def settings_template() -> str:
    """Return the fully commented default ``settings.yaml`` shipped with glocal."""
    return resources.files("glocal.config").joinpath("settings_template.yaml").read_text("utf-8")


@dataclass(frozen=True)
class Workspace:
    """Paths of one glocal workspace.

    Examples:
        >>> ws = Workspace(Path("/tmp/shop"))
        >>> ws.processed_dir("abc123").as_posix()
        '/tmp/shop/data/processed/abc123'

    """

    root: Path
    store: ObjectStore | None = field(default=None, compare=False, repr=False)
    """Where the files live when ``storage.url`` is set; ``root`` is then a scratch copy."""

    @property
    def settings_path(self) -> Path:
        """``config/settings.yaml``."""
        return self.root / "config" / "settings.yaml"

    @property
    def raw_dir(self) -> Path:
        """``data/raw``: copies of nothing; generated demo files land here."""
        return self.root / "data" / "raw"

    @property
    def versions_dir(self) -> Path:
        """``data/versions``: one JSON record per ingested data version."""
        return self.root / "data" / "versions"

    @property
    def models_dir(self) -> Path:
        """``models``: global and local models, bundles and the registry."""
        return self.root / "models"

    @property
    def evaluation_dir(self) -> Path:
        """``evaluation``: metrics, per-entity errors, plots and the HTML report."""
        return self.root / "evaluation"

    @property
    def logs_dir(self) -> Path:
        """``logs``: the log file of every command."""
        return self.root / "logs"

    @property
    def predictions_dir(self) -> Path:
        """``predictions``: batch and daily prediction files."""
        return self.root / "predictions"

    def processed_dir(self, data_version: str) -> Path:
        """``data/processed/<version>``: cleaned data and panels of one data version."""
        return self.root / "data" / "processed" / data_version

    def is_initialized(self) -> bool:
        """Return whether ``glocal init`` has created this workspace."""
        return self.settings_path.is_file()

    def init(self) -> list[Path]:
        """Create the layout and a commented ``settings.yaml``; keep what exists.

        Returns:
            The directories and files that were newly created.

        """
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"cannot create a workspace at {self.root}: it is a file.")
        created: list[Path] = []
        try:
            for relative in _LAYOUT:
                directory = self.root / relative
                if not directory.exists():
                    directory.mkdir(parents=True)
                    created.append(directory)
            if not self.settings_path.exists():
                write_text_atomic(self.settings_path, settings_template())
                created.append(self.settings_path)
        except PermissionError as exc:
            raise WorkspaceError(
                f"cannot create the workspace at {self.root}: permission denied on "
                f"{exc.filename}. Choose a directory you can write to with --workspace."
            ) from exc
        return created

    def require(self) -> None:
        """Raise a clear error unless this workspace was initialised."""
        if not self.is_initialized():
            raise WorkspaceError(
                f"{self.root} is not a glocal workspace ({self.settings_path} is missing). "
                f"Run `glocal init {self.root}` first, or pass --workspace DIR."
            )

    def settings(self) -> Settings:
        """Load this workspace's settings (file plus ``GLOCAL_...`` overrides)."""
        return load_settings(self.settings_path)
