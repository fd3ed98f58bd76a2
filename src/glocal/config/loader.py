"""Load settings from ``config/settings.yaml`` and ``GLOCAL_...`` environment variables.

Precedence, highest first: environment variables, the YAML file, built-in defaults.
An environment variable names a key path with ``__`` between levels, for example
``GLOCAL_FEATURES__HORIZON_DAYS=14`` or ``GLOCAL_SEED=7``; its value is read as YAML, so
``GLOCAL_FEATURES__WINDOWS_DAYS='[7, 30]'`` sets a list.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from glocal.config.settings import Settings
from glocal.core.errors import ConfigError

__all__ = ["ENV_PREFIX", "load_settings", "settings_to_yaml"]

ENV_PREFIX = "GLOCAL_"
_NON_SETTING_VARIABLES = {"GLOCAL_WORKSPACE"}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}.") from exc
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"settings file {path} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"settings file {path} must hold a mapping of sections at its top level, "
            f"found a {type(loaded).__name__}."
        )
    return loaded


def _env_overrides(environ: Mapping[str, str]) -> dict[str, tuple[list[str], Any]]:
    """Return ``{variable: (key path, parsed value)}`` for every GLOCAL_ setting variable."""
    overrides: dict[str, tuple[list[str], Any]] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _NON_SETTING_VARIABLES:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if len(path) == 1 and path[0] not in Settings.model_fields:
            continue  # e.g. GLOCAL_TEST_POSTGRES_URL: not a setting
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"environment variable {name} is not a valid YAML value: {exc}"
            ) from None
        overrides[name] = (path, value)
    return overrides


def _set_path(tree: dict[str, Any], path: list[str], value: Any, origin: str) -> None:
    node = tree
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{origin}: '{key}' is not a section, so it has no keys.")
        node = child
    node[path[-1]] = value


def _allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    current: type[BaseModel] = model
    for key in loc[:-1]:
        field = current.model_fields.get(str(key))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return sorted(current.model_fields)


def _format_errors(exc: ValidationError, origins: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc)
        origin = origins.get(key, origins.get("", "settings"))
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(Settings, loc))
            lines.append(f"unknown key '{key}' ({origin}); allowed keys here: {allowed}")
        else:
            got = error.get("input")
            lines.append(f"'{key}' ({origin}): {error['msg']}; got {got!r}")
    return "invalid settings:\n  - " + "\n  - ".join(lines) + "\nFix the key(s) named above."


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load and validate settings from an optional YAML file plus environment overrides.

    Raises:
        ConfigError: naming the key path, where it came from, and the allowed values.

    """
    tree: dict[str, Any] = _read_yaml(path) if path is not None and path.exists() else {}
    origins: dict[str, str] = {"": str(path) if path is not None else "defaults"}
    overrides = _env_overrides(os.environ if environ is None else environ)
    for name, (key_path, value) in overrides.items():
        _set_path(tree, key_path, value, f"environment variable {name}")
        origins[".".join(key_path)] = f"environment variable {name}"
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origins)) from None


def settings_to_yaml(settings: Settings) -> str:
    """Render the effective settings as YAML (what ``glocal config show`` prints)."""
    return yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False)
