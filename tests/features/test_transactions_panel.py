"""Tests of the transaction panel: against a pure-Python reference, for leakage and anchoring."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from glocal.config.features import FeatureSettings
from glocal.core.errors import ConfigError, DataValidationError
from glocal.features import build_latest_snapshot, build_panel, feature_columns
from tests.features.conftest import Line, make_transactions
from tests.features.reference import reference_panel
from tests.features.strategies import feature_settings, transaction_logs

FAST = settings(max_examples=25, deadline=None)


def build_or_none(log: pd.DataFrame, feature: FeatureSettings) -> pd.DataFrame | None:
    """Build the panel, or return None for a log too short to hold one cutoff."""
    try:
        return build_panel(log, feature)
    except ConfigError as exc:
        assert "no cutoff falls between" in str(exc)
        return None


def build_or_reject(log: pd.DataFrame, feature: FeatureSettings) -> pd.DataFrame:
    panel = build_or_none(log, feature)
    assume(panel is not None)
    assert panel is not None
    return panel


def assert_panels_equal(actual: pd.DataFrame, expected: pd.DataFrame, exact: bool = False) -> None:
    assert list(actual.columns) == list(expected.columns)
    actual, expected = actual.reset_index(drop=True), expected.reset_index(drop=True)
    assert actual["entity_id"].tolist() == expected["entity_id"].tolist()
    assert actual["cutoff"].tolist() == expected["cutoff"].tolist()
    for column in actual.columns.drop(["entity_id", "cutoff"]):
        if column == "country":
            left = actual[column].astype(object).where(actual[column].notna(), None)
            right = expected[column].astype(object).where(expected[column].notna(), None)
            assert left.tolist() == right.tolist()
        elif exact:
            np.testing.assert_array_equal(actual[column], expected[column], err_msg=column)
        else:
            np.testing.assert_allclose(
                actual[column].astype(float),
                expected[column].astype(float),
                rtol=1e-9,
                atol=1e-6,
                equal_nan=True,
                err_msg=column,
            )


@FAST
@given(log=transaction_logs(), feature=feature_settings)
def test_panel_matches_the_pure_python_reference(log: pd.DataFrame, feature: FeatureSettings):
    assert_panels_equal(build_or_reject(log, feature), reference_panel(log, feature))


@FAST
@given(log=transaction_logs(), feature=feature_settings, data=st.data())
def test_transactions_at_or_after_a_cutoff_never_change_its_features(
    log: pd.DataFrame, feature: FeatureSettings, data: st.DataObject
):
    panel = build_or_reject(log, feature)
    cutoff = data.draw(st.sampled_from(sorted(panel["cutoff"].unique())))
    later = (log["timestamp"] >= cutoff).to_numpy()
    touched = later & np.array(
        data.draw(st.lists(st.booleans(), min_size=len(log), max_size=len(log)))
    )
    changed = log.copy()
    if data.draw(st.booleans()):
        changed = changed[~touched]
    else:
        changed.loc[touched, "quantity"] = changed.loc[touched, "quantity"] * -3
        changed.loc[touched, "amount"] = changed.loc[touched, "amount"] * -3 + 7.5
        changed.loc[touched, "is_cancellation"] = ~changed.loc[touched, "is_cancellation"]
        changed.loc[touched, "stock_code"] = "new"
        changed.loc[touched, "country"] = "Japan"
        changed.loc[touched, "timestamp"] += pd.Timedelta(days=data.draw(st.integers(0, 40)))
    rebuilt = build_or_none(changed, feature)
    if rebuilt is None:  # the data now ends before the first cutoff: nothing to compare
        assert changed["timestamp"].max() < cutoff
        return
    last = min(cutoff, rebuilt["cutoff"].max())
    before = panel[panel["cutoff"] <= last].drop(columns="target")
    after = rebuilt[rebuilt["cutoff"] <= last].drop(columns="target")
    assert_panels_equal(after, before, exact=True)


@FAST
@given(log=transaction_logs(), feature=feature_settings, extra_days=st.integers(1, 60))
def test_later_data_never_moves_existing_cutoffs(
    log: pd.DataFrame, feature: FeatureSettings, extra_days: int
):
    panel = build_or_reject(log, feature)
    late = log["timestamp"].max() + pd.Timedelta(days=extra_days)
    extended = pd.concat(
        [log, make_transactions([Line("a", "999", late.to_pydatetime())])], ignore_index=True
    )
    rebuilt = build_panel(extended, feature)
    keys = ["entity_id", "cutoff"]
    merged = panel[keys].merge(rebuilt[keys], how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    old = rebuilt.merge(panel[keys]).drop(columns="target")
    assert_panels_equal(old, panel.drop(columns="target"), exact=True)


def test_hand_computed_values(small_log: pd.DataFrame):
    panel = build_panel(small_log, FeatureSettings(windows_days=[7, 30], horizon_days=14))
    row = panel.set_index(["entity_id", "cutoff"]).loc[("a", pd.Timestamp("2011-01-17"))]
    # a bought on Jan 4 (2 x 5.0) and Jan 12 (20.0), returned 20.0 on Jan 13
    assert row["recency_days"] == 5
    assert row["tenure_days"] == 13
    assert row["frequency_7d"] == 1
    assert row["monetary_7d"] == pytest.approx(0.0)
    assert row["monetary_30d"] == pytest.approx(10.0)
    assert row["returns_count_90d"] == 1
    assert row["returns_value_90d"] == pytest.approx(20.0)
    assert row["basket_units_90d"] == pytest.approx(1.5)
    assert row["distinct_products_90d"] == 2
    assert row["interval_mean_days"] == 8
    assert np.isnan(row["interval_std_days"])
    assert row["target"] == 0.0  # nothing in [Jan 17, Jan 31)
    assert row["country"] == "United Kingdom"


def test_entities_start_after_their_first_purchase_and_targets_stop_at_the_end(
    small_log: pd.DataFrame,
):
    panel = build_panel(small_log, FeatureSettings(horizon_days=14))
    firsts = panel.groupby("entity_id")["cutoff"].min()
    assert firsts.to_dict() == {"a": pd.Timestamp("2011-01-10"), "b": pd.Timestamp("2011-01-17")}
    # last transaction on Feb 12, so the data ends on Feb 13: a 14-day target needs
    # cutoff + 14 <= Feb 13, i.e. a cutoff on or before Jan 30
    known = panel.loc[panel["target"].notna(), "cutoff"]
    assert known.max() == pd.Timestamp("2011-01-24")
    assert panel["cutoff"].max() == pd.Timestamp("2011-02-07")


def test_contract_dtypes_and_order(small_log: pd.DataFrame):
    panel = build_panel(small_log, FeatureSettings())
    assert list(panel.columns[:3]) == ["entity_id", "cutoff", "target"]
    assert panel["entity_id"].dtype == "str"
    assert panel["cutoff"].dtype == "datetime64[us]"
    assert (panel["cutoff"] == panel["cutoff"].dt.normalize()).all()
    assert panel["target"].dtype == "float64"
    assert isinstance(panel["country"].dtype, pd.CategoricalDtype)
    numeric = [column for column in feature_columns(panel) if column != "country"]
    assert (panel[numeric].dtypes == "float64").all()
    assert panel.equals(panel.sort_values(["entity_id", "cutoff"], ignore_index=True))
    assert not panel.duplicated(["entity_id", "cutoff"]).any()


def test_latest_snapshot_is_the_last_cutoff_of_every_entity(small_log: pd.DataFrame):
    feature = FeatureSettings(first_cutoff=dt.date(2011, 1, 17), last_cutoff=dt.date(2011, 1, 24))
    latest = build_latest_snapshot(small_log, feature)
    full = build_panel(small_log, FeatureSettings())
    assert latest["cutoff"].unique().tolist() == [pd.Timestamp("2011-02-07")]
    expected = full[full["cutoff"] == pd.Timestamp("2011-02-07")].reset_index(drop=True)
    pd.testing.assert_frame_equal(latest, expected)


def test_cutoff_bounds_restrict_the_grid(small_log: pd.DataFrame):
    feature = FeatureSettings(first_cutoff=dt.date(2011, 1, 12), last_cutoff=dt.date(2011, 1, 30))
    panel = build_panel(small_log, feature)
    assert sorted(panel["cutoff"].unique()) == [
        pd.Timestamp("2011-01-17"),
        pd.Timestamp("2011-01-24"),
    ]


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"first_cutoff": dt.date(2011, 3, 1)}, "features.first_cutoff 2011-03-01 is outside"),
        ({"last_cutoff": dt.date(2010, 12, 1)}, "features.last_cutoff 2010-12-01 is outside"),
        ({"last_cutoff": dt.date(2012, 1, 1)}, "features.last_cutoff 2012-01-01 is outside"),
        (
            {"first_cutoff": dt.date(2011, 1, 18), "last_cutoff": dt.date(2011, 1, 20)},
            "no cutoff falls between 2011-01-18 and 2011-01-20",
        ),
    ],
)
def test_cutoff_bounds_outside_the_data_are_config_errors(
    small_log: pd.DataFrame, bounds: dict[str, dt.date], message: str
):
    with pytest.raises(ConfigError, match=message):
        build_panel(small_log, FeatureSettings(**bounds))


def test_missing_column_is_named(small_log: pd.DataFrame):
    with pytest.raises(DataValidationError, match=r"lack the column\(s\) \['amount'\]"):
        build_panel(small_log.drop(columns="amount"), FeatureSettings())


def test_cancellations_only_is_an_error(small_log: pd.DataFrame):
    only_returns = small_log[small_log["is_cancellation"]]
    with pytest.raises(DataValidationError, match="no purchase"):
        build_panel(only_returns, FeatureSettings())


def test_without_country_column_there_is_no_country_feature(small_log: pd.DataFrame):
    panel = build_panel(small_log.drop(columns="country"), FeatureSettings())
    assert "country" not in panel.columns
