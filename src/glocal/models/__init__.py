"""Model layer: the global model, the local model bank and per-entity selection."""
