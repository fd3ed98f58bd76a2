"""Tests of the kept history: a panel rebuilt for the changed entities equals a full build."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glocal.config.features import FeatureSettings
from glocal.core.errors import ConfigError, DataFileError
from glocal.data.columns import CANONICAL_COLUMNS
from glocal.data.digests import changed_entities, entity_digests, row_hashes
from glocal.features.entity_history import (
    PreviousHistory,
    history_path,
    read_history,
    write_history,
)
from glocal.features.transactions_panel import PanelBuild, build_with_history
from tests.features.conftest import Line, make_transactions
from tests.features.strategies import feature_settings, transaction_logs

FAST = settings(max_examples=25, deadline=None)


def digests(log: pd.DataFrame) -> pd.DataFrame:
    return entity_digests(log["entity_id"], row_hashes(log.loc[:, list(CANONICAL_COLUMNS)]))


def build_or_none(
    log: pd.DataFrame, feature: FeatureSettings, previous: PreviousHistory | None = None
) -> PanelBuild | None:
    try:
        return build_with_history(log, feature, previous)
    except ConfigError as exc:  # a log too short to hold one cutoff
        assert "no cutoff falls between" in str(exc)
        return None


def assert_builds_equal(actual: PanelBuild, expected: PanelBuild) -> None:
    pd.testing.assert_frame_equal(actual.panel, expected.panel, check_exact=True)
    pd.testing.assert_frame_equal(actual.latest, expected.latest, check_exact=True)


def replaced_case(
    before: pd.DataFrame, replacement: pd.DataFrame, replaced: set[str], feature: FeatureSettings
) -> tuple[PanelBuild, pd.DataFrame, PanelBuild, pd.Index] | None:
    """Build ``before``; replace the ``replaced`` entities' lines by ``replacement``'s.

    Returns the old build, the new log, its full build and the entities the digests
    name as changed; None when either log holds no cutoff or no purchase.
    """
    old = build_or_none(before, feature)
    if old is None:
        return None
    kept = before[~before["entity_id"].isin(replaced)]
    after = pd.concat([kept, replacement[replacement["entity_id"].isin(replaced)]])
    after = after.sort_values("timestamp", kind="stable", ignore_index=True)
    if after.empty or after["is_cancellation"].all():
        return None
    full = build_or_none(after, feature)
    if full is None:
        return None
    return old, after, full, changed_entities(digests(before), digests(after))


@FAST
@given(
    before=transaction_logs(),
    replacement=transaction_logs(),
    replaced=st.sets(st.sampled_from(["a", "b", "c"])),
    feature=feature_settings,
)
def test_rebuilding_the_changed_entities_gives_the_full_build(
    before: pd.DataFrame,
    replacement: pd.DataFrame,
    replaced: set[str],
    feature: FeatureSettings,
):
    """Entities whose lines are replaced (changed, new or gone) are found by their digests,
    and the panel built from the kept history is the full build, value for value. (The
    BG/NBD fits, which see every entity at a cutoff, are left out here for speed: they
    are fitted on the same inputs either way, as the tests below with them show.)"""
    feature = feature.model_copy(update={"btyd": False})
    case = replaced_case(before, replacement, replaced, feature)
    if case is None:
        return
    old, after, full, rebuilt = case
    assert set(rebuilt) <= replaced
    incremental = build_with_history(after, feature, PreviousHistory(old.history, rebuilt))
    assert_builds_equal(incremental, full)
    spliced = build_with_history(after, feature, PreviousHistory(old.history, rebuilt, old.panel))
    assert_builds_equal(spliced, full)


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(
    before=transaction_logs(max_invoices=30, max_days=200),
    replacement=transaction_logs(max_invoices=30, max_days=200),
    replaced=st.sets(st.sampled_from(["a", "b", "c"]), max_size=1),
    feature=feature_settings,
)
def test_spliced_panels_refit_bgnbd_exactly_where_the_history_changed(
    before: pd.DataFrame,
    replacement: pd.DataFrame,
    replaced: set[str],
    feature: FeatureSettings,
):
    """With the BG/NBD fits on: the cutoffs after the first changed day are computed
    again for every entity (their fits see the change), the others are copied."""
    feature = feature.model_copy(update={"cutoff_every_days": 7})
    case = replaced_case(before, replacement, replaced, feature)
    if case is None:
        return
    old, after, full, rebuilt = case
    spliced = build_with_history(after, feature, PreviousHistory(old.history, rebuilt, old.panel))
    assert_builds_equal(spliced, full)


def test_new_days_add_cutoffs_and_fill_targets_of_unchanged_entities(small_log: pd.DataFrame):
    """A later day moves the end of the data: new cutoffs, and targets that became known,
    for entities whose own lines did not change."""
    feature = FeatureSettings(horizon_days=7)
    old = build_with_history(small_log, feature)
    late = small_log["timestamp"].max() + pd.Timedelta(days=20)
    after = pd.concat(
        [small_log, make_transactions([Line("c", "99", late.to_pydatetime(), "p9")])],
        ignore_index=True,
    )
    rebuilt = changed_entities(digests(small_log), digests(after))
    assert list(rebuilt) == ["c"]
    incremental = build_with_history(after, feature, PreviousHistory(old.history, rebuilt))
    full = build_with_history(after, feature)
    assert_builds_equal(incremental, full)
    previous = PreviousHistory(old.history, rebuilt, old.panel)
    assert_builds_equal(build_with_history(after, feature, previous), full)
    unchanged = incremental.panel[incremental.panel["entity_id"] == "a"]
    assert unchanged["cutoff"].max() > old.panel["cutoff"].max()
    assert (
        unchanged["target"].notna().sum()
        > old.panel.query("entity_id == 'a'")["target"].notna().sum()
    )


def test_nothing_changed_rebuilds_nothing(small_log: pd.DataFrame):
    feature = FeatureSettings(horizon_days=7)
    old = build_with_history(small_log, feature)
    rebuilt = changed_entities(digests(small_log), digests(small_log))
    assert rebuilt.empty
    incremental = build_with_history(small_log, feature, PreviousHistory(old.history, rebuilt))
    assert_builds_equal(incremental, old)


def test_history_round_trips_through_parquet(small_log: pd.DataFrame, tmp_path: Path):
    feature = FeatureSettings(horizon_days=7)
    old = build_with_history(small_log, feature)
    path = history_path(tmp_path, feature)
    write_history(path, old.history)
    kept = read_history(path)
    pd.testing.assert_frame_equal(kept.table, old.history.table, check_exact=True)
    assert kept.end_day == old.history.end_day
    after = small_log.copy()
    b = after["entity_id"] == "b"
    after.loc[b, "stock_code"] = "p7"  # a change the retraining fingerprints would not see
    rebuilt = changed_entities(digests(small_log), digests(after))
    assert list(rebuilt) == ["b"]
    incremental = build_with_history(after, feature, PreviousHistory(kept, rebuilt))
    assert_builds_equal(incremental, build_with_history(after, feature))
    written = tmp_path / "panel.parquet"
    old.panel.to_parquet(written, index=False)
    previous = PreviousHistory(kept, rebuilt, pd.read_parquet(written))
    assert_builds_equal(build_with_history(after, feature, previous), incremental)


def test_history_files_differ_by_feature_settings(tmp_path: Path):
    week, month = FeatureSettings(detail_window_days=7), FeatureSettings(detail_window_days=30)
    assert history_path(tmp_path, week) != history_path(tmp_path, month)
    same = FeatureSettings(**week.model_dump())
    assert history_path(tmp_path, week) == history_path(tmp_path, same)


def test_a_damaged_history_file_is_named(tmp_path: Path):
    path = tmp_path / "history-damaged.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(DataFileError, match=r"history-damaged\.parquet.*Delete it"):
        read_history(path)


def test_history_rows_are_per_entity_and_day(small_log: pd.DataFrame):
    table = build_with_history(small_log, FeatureSettings()).history.table
    assert not table.duplicated(["entity_id", "day"]).any()
    assert set(table["entity_id"]) == {"a", "b"}
    first_a = table.query("entity_id == 'a' and purchase_days > 0")["day"].min()
    assert first_a == (dt.date(2011, 1, 4) - dt.date(1970, 1, 1)).days
