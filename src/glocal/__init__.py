"""glocal: one global model plus a bank of guarded per-entity local models.

Each entity (customer, store, segment, ...) is served by whichever of the global model,
its own local model, or a blend of both predicted it best on out-of-time validation.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
