"""Typed settings (pydantic), their YAML/environment loader, and the workspace layout."""

from __future__ import annotations

from glocal.config.loader import ENV_PREFIX, load_settings, settings_to_yaml
from glocal.config.settings import Settings
from glocal.config.workspace import Workspace

__all__ = ["ENV_PREFIX", "Settings", "Workspace", "load_settings", "settings_to_yaml"]
