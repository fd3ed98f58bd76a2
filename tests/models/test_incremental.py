from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glocal.models import HybridModel
from glocal.models.incremental import refit_entities
from tests.models.conftest import history_test


@pytest.fixture(scope="module")
def history(small_panel: pd.DataFrame) -> pd.DataFrame:
    return history_test(small_panel)[0]


def _bank_rows(model: HybridModel, kind: str, entities: list[str]) -> pd.DataFrame:
    frame = model.candidates_.banks_[kind].to_frame()
    return frame[frame["entity_id"].isin(entities)].reset_index(drop=True)


def test_carried_entities_are_bit_identical(
    fitted_hybrid: tuple[HybridModel, pd.DataFrame], history: pd.DataFrame
) -> None:
    model, _ = fitted_hybrid
    entities = sorted(model.decisions_["entity_id"].astype(str))
    changed, carried = entities[:5], entities[5:]
    update = refit_entities(model, history, changed)
    merged = update.model
    assert list(update.retrained) == changed
    for kind in model.candidates_.banks_:
        pd.testing.assert_frame_equal(
            _bank_rows(model, kind, carried), _bank_rows(merged, kind, carried), check_exact=True
        )
    old = model.decisions_[model.decisions_["entity_id"].isin(carried)].reset_index(drop=True)
    new = merged.decisions_[merged.decisions_["entity_id"].isin(carried)].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, new, check_exact=True)
    assert merged.global_stage_ is model.global_stage_
    assert set(merged.decisions_["entity_id"]) == set(entities)
    # the original model is left alone
    assert model.candidates_.banks_["direct"] is not merged.candidates_.banks_["direct"]


def test_retrained_entities_match_a_fit_on_their_rows_only(
    fitted_hybrid: tuple[HybridModel, pd.DataFrame], history: pd.DataFrame
) -> None:
    model, _ = fitted_hybrid
    changed = sorted(model.decisions_["entity_id"].astype(str))[:6]
    merged = refit_entities(model, history, changed).model
    again = refit_entities(model, history, changed).model
    pd.testing.assert_frame_equal(
        _bank_rows(merged, "direct", changed), _bank_rows(again, "direct", changed)
    )
    rows = history[history["entity_id"].isin(changed)]
    prediction = merged.predict(rows)
    assert np.isfinite(prediction["prediction"]).all()
    # decided at the level the population guard chose at the full fit
    decided = merged.decisions_[merged.decisions_["entity_id"].isin(changed)]
    assert len(decided) == len(changed)
    if model.guard_level_ == 0:
        assert (decided["decision"] == "global").all()


def test_drop_removes_entities_everywhere(
    fitted_hybrid: tuple[HybridModel, pd.DataFrame], history: pd.DataFrame
) -> None:
    model, _ = fitted_hybrid
    gone = sorted(model.decisions_["entity_id"].astype(str))[:3]
    merged = refit_entities(model, history, [], drop=gone).model
    assert not merged.decisions_["entity_id"].isin(gone).any()
    for bank in merged.candidates_.banks_.values():
        assert not bank.entity_ids_.isin(gone).any()
    for correction in merged.candidates_.corrections_.values():
        assert not correction.entity_ids_.isin(gone).any()


def test_unknown_entity_without_rows_changes_nothing(
    fitted_hybrid: tuple[HybridModel, pd.DataFrame], history: pd.DataFrame
) -> None:
    model, _ = fitted_hybrid
    update = refit_entities(model, history, ["nobody"])
    assert len(update.decided) == 0
    pd.testing.assert_frame_equal(
        update.model.decisions_.reset_index(drop=True), model.decisions_.reset_index(drop=True)
    )
