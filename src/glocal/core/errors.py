"""The exception family of glocal.

Every error a user can cause derives from :class:`GlocalError`. The CLI turns it into a
one-paragraph message and exit code 2. Anything else that escapes is a bug in glocal.
"""

from __future__ import annotations

__all__ = [
    "BundleError",
    "ConfigError",
    "DataFileError",
    "DataValidationError",
    "FeatureError",
    "GlocalError",
    "ModelError",
    "NotFittedError",
    "RegistryError",
    "RegistryLookupError",
    "RegistryUnavailableError",
    "SchemaVersionError",
    "StorageError",
    "WorkspaceError",
]


class GlocalError(Exception):
    """Base class of every error caused by bad input, settings or state.

    The message must name the file, column, field or key that is wrong and say how to fix it.
    """


class ConfigError(GlocalError, ValueError):
    """A setting is unknown, has the wrong type or is out of range."""


class WorkspaceError(GlocalError):
    """The workspace is missing, incomplete or locked."""


class DataFileError(GlocalError, ValueError):
    """An input file is missing, empty, unreadable or in an unsupported format."""


class DataValidationError(GlocalError, ValueError):
    """An input file was read, but its columns or values are not usable."""


class ModelError(GlocalError, ValueError):
    """A model cannot be fitted or used with the given data or options."""


class FeatureError(ModelError):
    """Features of a prediction request are missing, unknown, mistyped or not finite.

    Attributes:
        problems: Each offending feature's name and what is wrong with it.

    """

    def __init__(self, problems: dict[str, str]) -> None:
        shown = [f"{name!r}: {problem}" for name, problem in list(problems.items())[:5]]
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        super().__init__(f"{len(problems)} bad feature(s): {'; '.join(shown)}{more}.")
        self.problems = problems

    @property
    def fields(self) -> list[str]:
        """The names of the offending features."""
        return list(self.problems)


class NotFittedError(ModelError, AttributeError):
    """A model was used before ``fit`` was called.

    It inherits from :class:`ValueError` and :class:`AttributeError`, as scikit-learn's
    ``NotFittedError`` does, so that existing ``except`` blocks still catch it.
    """


class RegistryError(GlocalError):
    """The model registry or a run bundle cannot be used as asked."""


class BundleError(RegistryError):
    """A run bundle is missing, incomplete, tampered with, or could not be written."""


class RegistryUnavailableError(RegistryError):
    """The registry database cannot be reached or opened; nothing was written."""


class SchemaVersionError(RegistryError):
    """The registry's schema is newer (or older) than this version of glocal understands."""


class RegistryLookupError(RegistryError, LookupError):
    """A run id, alias or entity the registry was asked about is not recorded."""


class StorageError(GlocalError):
    """The object store (``storage.url``) cannot be reached, read or written as asked."""
