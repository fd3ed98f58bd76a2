"""The evidence of the per-entity choice: chunks of entities give exactly one pass's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from glocal.config.models import LocalModelSettings, SelectionSettings
from glocal.data.synthetic import make_synthetic_panel
from glocal.models.evidence import _per_row, collect_evidence
from glocal.models.evidence_rows import Blend, EntityFloor, as_array
from glocal.models.folds import rolling_folds
from glocal.models.frames import coded_entities
from glocal.models.local_bank import BankFitter, LocalModelBank, fit_local_banks
from glocal.models.selection import Evidence

FEATURES = ["x0", "x1", "x2"]


def _evidence(
    frame: pd.DataFrame,
    chunk_rows: int | None,
    objective: str = "mse",
    fitter: BankFitter = fit_local_banks,
    n_jobs: int = -1,
) -> Evidence:
    folds = rolling_folds(frame["cutoff"], n_folds=3, fold_days=21, embargo_days=7)
    rng = np.random.default_rng(0)
    g = frame["target"].to_numpy() * 0.8 + rng.normal(size=len(frame))
    cutoffs = frame["cutoff"]
    fold_global = [(g[f.train_mask(cutoffs)], g[f.validation_mask(cutoffs)]) for f in folds]
    settings = LocalModelSettings(
        candidates=["residual", "level", "scale", "direct", "intermittent"],
        min_train_rows=4,
        n_jobs=n_jobs,
    )
    evidence, _ = collect_evidence(
        frame,
        folds,
        fold_global,
        settings,
        SelectionSettings(),
        FEATURES,
        objective,  # type: ignore[arg-type]
        lags=0,
        fitter=fitter,
        chunk_rows=chunk_rows,
    )
    return evidence


@pytest.fixture(scope="module")
def coded_panel() -> pd.DataFrame:
    panel, _ = make_synthetic_panel(
        150, 24, 3, noise=0.5, seed=7, few_rows_fraction=0.2, missing_rate=0.03
    )
    rng = np.random.default_rng(1)
    quiet = rng.random(len(panel)) < 0.5  # mostly-zero targets for the intermittent kind
    panel["target"] = np.where(quiet, 0.0, panel["target"].abs())
    coded, _ = coded_entities(panel, FEATURES)
    return coded


@pytest.mark.parametrize("objective", ["mse", "mae"])
def test_chunks_of_entities_give_exactly_the_evidence_of_one_pass(
    coded_panel: pd.DataFrame, objective: str
) -> None:
    whole = _evidence(coded_panel, chunk_rows=10**9, objective=objective)
    chunked = _evidence(coded_panel, chunk_rows=100, objective=objective)  # ~30 chunks
    for name in ("entity_ids", "target", "global_prediction", "fold"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))
    assert [c.name for c in chunked.candidates] == [c.name for c in whole.candidates]
    for mine, theirs in zip(chunked.candidates, whole.candidates, strict=True):
        np.testing.assert_array_equal(as_array(mine.prediction), as_array(theirs.prediction))
        np.testing.assert_array_equal(as_array(mine.variance), as_array(theirs.variance))
        if theirs.weight is not None:
            np.testing.assert_array_equal(mine.weight, theirs.weight)
    # the floors exist where an entity had training rows, and the chunks changed no prior
    assert np.isfinite(as_array(whole.candidates[0].variance)).mean() > 0.5


def test_chunks_on_threads_give_exactly_the_evidence_of_chunks_in_turn(
    coded_panel: pd.DataFrame,
) -> None:
    in_turn = _evidence(coded_panel, chunk_rows=100, n_jobs=1)
    threaded = _evidence(coded_panel, chunk_rows=100, n_jobs=3)
    np.testing.assert_array_equal(threaded.entity_ids, in_turn.entity_ids)
    for mine, theirs in zip(threaded.candidates, in_turn.candidates, strict=True):
        assert mine.name == theirs.name
        np.testing.assert_array_equal(as_array(mine.prediction), as_array(theirs.prediction))
        np.testing.assert_array_equal(as_array(mine.variance), as_array(theirs.variance))


@pytest.mark.parametrize("as_text", [False, True])
def test_per_row_floors_are_the_reindexed_floors_with_zero_where_missing(as_text: bool) -> None:
    per_entity = pd.Series([1.5, np.nan, 3.0, 0.25], index=[2, 5, 7, 11])
    rows = np.array([0, 2, 2, 5, 6, 7, 11, 11, 12])
    if as_text:  # ids that are not integer codes take pandas' reindex
        per_entity.index = per_entity.index.map(str)
        rows = rows.astype(str)
    expected = per_entity.reindex(rows).fillna(0.0).to_numpy()
    np.testing.assert_array_equal(_per_row(per_entity, rows), expected)
    assert _per_row(per_entity.iloc[:0], rows).tolist() == [0.0] * len(rows)


class _CountingFitter:
    """Fits in process and counts the entities of each call."""

    def __init__(self, partitions: bool) -> None:
        self.partitions_entities = partitions
        self.entities_per_call: list[int] = []

    def __call__(
        self, frame: pd.DataFrame, targets: Mapping[str, npt.ArrayLike], **options: Any
    ) -> dict[str, LocalModelBank]:
        self.entities_per_call.append(frame["entity_id"].nunique())
        return fit_local_banks(frame, targets, **options)


def test_a_fitter_that_partitions_the_entities_gets_them_all_at_once(
    coded_panel: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glocal.models import evidence

    monkeypatch.setattr(evidence, "EVIDENCE_CHUNK_ROWS", 100)
    in_process, engine = _CountingFitter(partitions=False), _CountingFitter(partitions=True)
    chunked = _evidence(coded_panel, chunk_rows=None, fitter=in_process)
    whole = _evidence(coded_panel, chunk_rows=None, fitter=engine)
    assert max(in_process.entities_per_call) < 20  # chunks of a few entities
    assert min(engine.entities_per_call) > 100  # every entity with training rows, per fold
    for mine, theirs in zip(chunked.candidates, whole.candidates, strict=True):
        np.testing.assert_array_equal(as_array(mine.prediction), as_array(theirs.prediction))


def test_blends_are_computed_where_read_with_the_numbers_of_the_whole_array(
    coded_panel: pd.DataFrame,
) -> None:
    evidence = _evidence(coded_panel, chunk_rows=None)
    blends = [c for c in evidence.candidates if c.decision == "blend"]
    assert blends and all(isinstance(c.prediction, Blend) for c in blends)
    for candidate in blends:
        blend = candidate.prediction
        assert isinstance(blend, Blend)
        g, w = blend.global_prediction, blend.weight
        whole = g + w * (blend.base - g)  # what the evidence held before it was lazy
        np.testing.assert_array_equal(as_array(blend), whole)
        rows = slice(3, len(whole) // 2)
        np.testing.assert_array_equal(blend[rows], whole[rows])


def test_entity_floors_read_one_value_per_entity_and_fold_with_zero_where_none() -> None:
    floor = EntityFloor(np.array([0.5, 2.0, 7.0]), np.array([1, 1, -1, 0, 2, 2]))
    np.testing.assert_array_equal(as_array(floor), [2.0, 2.0, 0.0, 0.5, 7.0, 7.0])
    np.testing.assert_array_equal(floor[2:5], [0.0, 0.5, 7.0])
    assert len(floor) == 6
