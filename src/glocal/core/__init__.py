"""Lowest layer: errors, logging, progress bars, hashing and atomic file output.

Nothing in here knows about transactions, features or models.
"""
