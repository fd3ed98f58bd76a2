"""Settings of where a workspace's files live: the workspace itself, or an object store."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from glocal.config.base import Section

__all__ = ["StorageSettings"]

_SCHEMES = ("file", "s3", "s3a", "gs", "gcs", "az", "abfs", "memory")


class StorageSettings(Section):
    """Where bundles, data versions, panels, predictions and reports are kept."""

    url: str | None = Field(
        default=None,
        description=(
            "null keeps every file in the workspace directory. A URL (s3://bucket/prefix, "
            "or file:///abs/dir) keeps them there instead: the workspace then holds only "
            "config/settings.yaml, commands work in a temporary directory, and "
            "registry.url must name a shared database (PostgreSQL) that also holds the "
            "run lock. S3 needs the s3 extra."
        ),
    )
    endpoint_url: str | None = Field(
        default=None,
        description="S3-compatible endpoint (MinIO, Ceph, ...); null means AWS S3.",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Further fsspec storage options, e.g. {anon: false}. Leave credentials to "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."
        ),
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, separator, rest = value.partition("://")
        if not separator or not rest.strip("/"):
            raise ValueError(
                f"{value!r} is not a storage URL; use s3://bucket/prefix or file:///abs/dir "
                "(or null to keep files in the workspace)"
            )
        if scheme not in _SCHEMES:
            raise ValueError(
                f"unknown scheme {scheme!r}; use one of {', '.join(_SCHEMES)} (e.g. "
                "s3://bucket/prefix)"
            )
        if scheme == "file" and not rest.startswith("/"):
            raise ValueError(f"{value!r}: a file URL needs an absolute path, file:///abs/dir")
        return value.rstrip("/")
