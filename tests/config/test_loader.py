from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from glocal.config import Settings, load_settings, settings_to_yaml
from glocal.config.workspace import settings_template
from glocal.core.errors import ConfigError


def _leaf_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += _leaf_paths(annotation, f"{prefix}{name}.")
        else:
            paths.append(f"{prefix}{name}")
    return paths


def test_template_loads_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(settings_template())
    assert load_settings(path, environ={}) == Settings()


def test_template_documents_every_setting() -> None:
    template = yaml.safe_load(settings_template())
    for dotted in _leaf_paths(Settings):
        node = template
        for key in dotted.split("."):
            assert key in node, f"settings_template.yaml lacks '{dotted}'"
            node = node[key]


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "absent.yaml", environ={}) == Settings()


def test_unknown_key_names_path_and_allowed_keys(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("features:\n  horizon_dayz: 10\n")
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path, environ={})
    message = str(excinfo.value)
    assert "features.horizon_dayz" in message
    assert "horizon_days" in message
    assert str(path) in message


@pytest.mark.parametrize(
    ("yaml_text", "fragment"),
    [
        ("features:\n  horizon_days: soon\n", "features.horizon_days"),
        ("features:\n  horizon_days: 0\n", "greater than 0"),
        ("panel:\n  mode: spreadsheet\n", "'transactions' or 'panel'"),
        ("log_level: LOUD\n", "log_level"),
        ("global_model:\n  fit_workers: 0\n", "fit_workers"),
        ("- a\n- b\n", "mapping"),
        ("features: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_values_are_rejected_with_the_key(
    tmp_path: Path, yaml_text: str, fragment: str
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=None) as excinfo:
        load_settings(path, environ={})
    assert fragment in str(excinfo.value)


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("features:\n  horizon_days: 14\n")
    env = {
        "GLOCAL_FEATURES__HORIZON_DAYS": "21",
        "GLOCAL_FEATURES__WINDOWS_DAYS": "[7, 30]",
        "GLOCAL_SEED": "7",
        "GLOCAL_TEST_POSTGRES_URL": "postgresql://ignored",
        "GLOCAL_WORKSPACE": "/somewhere",
    }
    settings = load_settings(path, environ=env)
    assert settings.features.horizon_days == 21
    assert settings.features.windows_days == [7, 30]
    assert settings.seed == 7


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_settings(None, environ={"GLOCAL_SPLIT__TEST_DAYS": "-3"})
    assert "GLOCAL_SPLIT__TEST_DAYS" in str(excinfo.value)


def test_settings_round_trip_through_yaml() -> None:
    settings = Settings.model_validate({"seed": 3, "features": {"horizon_days": 9}})
    assert Settings.model_validate(yaml.safe_load(settings_to_yaml(settings))) == settings


def test_dependence_lags_are_left_to_the_model_layer() -> None:
    # the lags follow from the horizon and the panel's cutoff spacing, derived in one place
    # (glocal.models.folds.dependence_lags) for the CLI and library users alike
    assert Settings().selection.dependence_lags is None
    explicit = Settings.model_validate({"selection": {"dependence_lags": 1}})
    assert explicit.selection.dependence_lags == 1


def test_environment_values_lists_mappings_and_empty(tmp_path: Path) -> None:
    env = {
        "GLOCAL_GLOBAL_MODEL__PARAMS": "{learning_rate: 0.1}",
        "GLOCAL_GLOBAL_MODEL__OFFSETS": "[none, naive]",
        "GLOCAL_REGISTRY__URL": "",
    }
    path = tmp_path / "settings.yaml"
    path.write_text("registry:\n  url: sqlite:///elsewhere.db\n")
    settings = load_settings(path, environ=env)
    assert settings.global_model.params == {"learning_rate": 0.1}
    assert settings.global_model.offsets == ["none", "naive"]
    assert settings.registry.url is None  # an empty variable means null, over the file


def test_unknown_environment_key_names_the_variable_and_allowed_keys() -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_settings(None, environ={"GLOCAL_FEATURES__HORIZON": "3"})
    message = str(excinfo.value)
    assert "GLOCAL_FEATURES__HORIZON" in message and "horizon_days" in message


def test_settings_built_in_code_never_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GLOCAL_SEED", "9")
    assert Settings().seed == 42
    assert load_settings(None).seed == 9
