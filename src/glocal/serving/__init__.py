"""Serving layer: the real-time prediction service over HTTP (``glocal serve``).

The whole production run is held in memory (every entity hot), compiled for per-request
work (:mod:`glocal.models.routing`), followed through the registry's ``production`` alias
and swapped without dropping a request (:mod:`glocal.serving.reloader`). Every served
prediction goes to ``predictions/online/`` through a bounded queue
(:mod:`glocal.serving.prediction_log`). Needs the ``serve`` extra.
"""

from __future__ import annotations

from glocal.serving.app import create_app

__all__ = ["create_app"]
