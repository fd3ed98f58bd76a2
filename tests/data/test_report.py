from __future__ import annotations

import pytest

from glocal.data.report import CleaningReport, RuleOutcome


def _report() -> CleaningReport:
    return CleaningReport(
        rows_in=10,
        rows_out=7,
        outcomes=[
            RuleOutcome(rule="missing_entity", action="removed", rows=3, description="x"),
            RuleOutcome(rule="cancellation", action="flagged", rows=1, description="y"),
        ],
    )


def test_counts_and_json_round_trip() -> None:
    report = _report()
    assert report.rows_removed == 3
    assert report.count("cancellation") == 1
    assert CleaningReport.model_validate_json(report.model_dump_json()) == report


def test_unknown_rule_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="missing_entity"):
        _report().count("typo")
