from __future__ import annotations

import glocal.models as models


def test_public_names_are_exactly_the_intended_ones() -> None:
    assert set(models.__all__) == {
        "DECISION_COLUMNS",
        "PREDICTION_COLUMNS",
        "Candidate",
        "GlobalModel",
        "GlobalStage",
        "HybridModel",
        "LocalModelBank",
        "Reason",
        "ShrunkCorrection",
        "fit_local_banks",
        "guard_level",
        "select_per_entity",
    }
    for name in models.__all__:
        if not name.isupper():
            assert getattr(models, name).__module__.startswith("glocal.models")
