"""Load settings from ``config/settings.yaml`` and ``GLOCAL_...`` environment variables.

Precedence, highest first: environment variables, the YAML file, built-in defaults.
An environment variable names a key path with ``__`` between levels, for example
``GLOCAL_FEATURES__HORIZON_DAYS=14`` or ``GLOCAL_SEED=7``; a list or mapping value is read
as YAML, so ``GLOCAL_FEATURES__WINDOWS_DAYS='[7, 30]'`` sets a list, and an empty value
means ``null``.

pydantic-settings reads the environment (:class:`_FromEnvironment`, the sources: the
variables over the file's tree); this module keeps the messages: every error names the key
path, where its value came from (the file or the variable) and the allowed keys or values.
The result is a plain :class:`~glocal.config.settings.Settings`, so constructing
``Settings()`` in code never reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources.utils import parse_env_vars

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


def _environment_source(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the variables pydantic-settings may read: the setting ones only."""
    return {
        name: value
        for name, value in environ.items()
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in _NON_SETTING_VARIABLES
    }


def _env_origins(environ: Mapping[str, str]) -> dict[str, str]:
    """Return ``{key path: 'environment variable NAME'}`` of every GLOCAL_ setting variable.

    Raises:
        ConfigError: A list or mapping value is not valid YAML (naming the variable).

    """
    origins: dict[str, str] = {}
    for name, raw in _environment_source(environ).items():
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if len(path) == 1 and path[0] not in Settings.model_fields:
            continue  # e.g. GLOCAL_TEST_POSTGRES_URL: not a setting
        try:
            yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"environment variable {name} is not a valid YAML value: {exc}"
            ) from None
        origins[".".join(path)] = f"environment variable {name}"
    return origins


_VARIABLES: ContextVar[Mapping[str, str] | None] = ContextVar(
    "glocal_settings_environment", default=None
)
"""The environment :func:`load_settings` was given, for the source to read."""


class _YamlEnvironment(EnvSettingsSource):
    """pydantic-settings' environment source, reading list and mapping values as YAML.

    It reads the mapping :func:`load_settings` was given, not ``os.environ`` directly.
    """

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            _VARIABLES.get() or {},
            self.case_sensitive,
            self.env_ignore_empty,
            self.env_parse_none_str,
        )

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        """Read a list or mapping value as YAML (a superset of JSON): ``[7, 30]``."""
        return yaml.safe_load(value)


class _FromEnvironment(Settings, BaseSettings):
    """:class:`Settings` whose values come from ``GLOCAL_`` variables over the file's tree."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_parse_none_str="",
        case_sensitive=False,
        extra="forbid",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables first, then the YAML file's tree (the init arguments)."""
        return (_YamlEnvironment(settings_cls), init_settings)


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

    Args:
        path: The YAML file (absent or ``None``: defaults and environment only).
        environ: The environment to read (``None``: ``os.environ``).

    Raises:
        ConfigError: naming the key path, where it came from, and the allowed values.

    """
    tree: dict[str, Any] = _read_yaml(path) if path is not None and path.exists() else {}
    origins: dict[str, str] = {"": str(path) if path is not None else "defaults"}
    variables = os.environ if environ is None else environ
    origins.update(_env_origins(variables))
    source = _environment_source(variables)
    strange = [key for key in tree if not isinstance(key, str)]
    if strange:
        raise ConfigError(
            f"settings file {path}: top-level keys must be section names, found {strange!r}; "
            f"allowed keys: {', '.join(sorted(Settings.model_fields))}."
        )
    token = _VARIABLES.set(source)
    try:
        loaded = _FromEnvironment(**tree)
        return Settings.model_validate(loaded.model_dump())
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, origins)) from None
    except SettingsError as exc:
        raise ConfigError(f"invalid settings in the environment: {exc}") from None
    finally:
        _VARIABLES.reset(token)


def settings_to_yaml(settings: Settings) -> str:
    """Render the effective settings as YAML (what ``glocal config show`` prints)."""
    return yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False)
