"""The public names of glocal.features are exactly the intended ones."""

from __future__ import annotations

import glocal.features


def test_public_api():
    assert sorted(glocal.features.__all__) == [
        "BlockRange",
        "CurrentPanel",
        "Fold",
        "PanelFiles",
        "PanelSplit",
        "build_latest_snapshot",
        "build_panel",
        "build_panel_and_latest",
        "categorical_columns",
        "feature_baseline",
        "feature_columns",
        "latest_rows",
        "load_generic_panel",
        "population_stability",
        "read_current_panel",
        "read_panel",
        "resolve_embargo",
        "rolling_folds",
        "split_panel",
        "write_panel",
    ]
    for name in glocal.features.__all__:
        assert getattr(glocal.features, name).__doc__
