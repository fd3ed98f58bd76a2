from __future__ import annotations

import glocal.data


def test_public_names_are_exactly_the_intended_ones() -> None:
    assert set(glocal.data.__all__) == {
        "CANONICAL_COLUMNS",
        "CLEAN_COLUMNS",
        "CleaningReport",
        "DataVersion",
        "IngestResult",
        "RuleOutcome",
        "clean_transactions",
        "generate_demo_transactions",
        "get_data_version",
        "ingest_file",
        "latest_data_version",
        "list_data_versions",
        "load_clean_transactions",
        "read_transactions",
        "write_demo_file",
    }
    for name in glocal.data.__all__:
        assert getattr(glocal.data, name) is not None
