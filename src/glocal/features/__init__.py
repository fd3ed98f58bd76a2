"""Feature layer: point-in-time panels, the latest snapshot and the time split."""
