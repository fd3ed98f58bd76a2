"""Evaluation layer: policies compared on the test block, metrics, plots and the report."""
