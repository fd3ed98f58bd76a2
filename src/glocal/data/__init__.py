"""Data layer: reading transaction files, data versions, cleaning and demo data."""
