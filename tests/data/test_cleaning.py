from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glocal.config.data import CleaningSettings
from glocal.core.errors import DataValidationError
from glocal.data import CLEAN_COLUMNS, clean_transactions
from glocal.data.cleaning import _duplicated
from glocal.data.digests import row_hashes
from glocal.data.report import CleaningReport

Row = tuple[str | None, str, str, int, float, str]  # entity, invoice, code, qty, price, time


def _canonical(rows: list[Row]) -> pd.DataFrame:
    entity, invoice, code, quantity, price, time = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "entity_id": pd.array(entity, dtype="string"),
            "invoice": pd.array(invoice, dtype="string"),
            "stock_code": pd.array(code, dtype="string"),
            "description": pd.array([None] * len(rows), dtype="string"),
            "quantity": pd.array(quantity, dtype="int64"),
            "unit_price": pd.array(price, dtype="float64"),
            "timestamp": pd.to_datetime(list(time)).astype("datetime64[ns]"),
            "country": pd.array(["United Kingdom"] * len(rows), dtype="string"),
        }
    )


def _counts(report: CleaningReport) -> dict[str, int]:
    return {outcome.rule: outcome.rows for outcome in report.outcomes}


def test_each_rule_counts_its_rows() -> None:
    frame = _canonical(
        [
            ("1", "100", "A", 2, 1.5, "2011-01-03 10:00"),  # kept
            (None, "101", "A", 1, 1.5, "2011-01-03 10:05"),  # guest
            ("1", "102", "POST", 1, 18.0, "2011-01-03 10:10"),  # postage
            ("1", "103", "Z", 1, 0.0, "2011-01-03 10:15"),  # zero price
            ("2", "104", "A", 3, 1.5, "2011-01-04 10:00"),  # kept
            ("2", "104", "A", 3, 1.5, "2011-01-04 10:00"),  # duplicate
            ("3", "105", "X", 80995, 2.08, "2011-12-09 09:15"),  # extreme order ...
            ("3", "C106", "X", -80995, 2.08, "2011-12-09 09:27"),  # ... and its cancellation
            ("2", "C107", "A", -1, 1.5, "2011-01-05 10:00"),  # cancellation, kept
        ]
    )
    clean, report = clean_transactions(frame, CleaningSettings())
    assert _counts(report) == {
        "missing_entity": 1,
        "non_product_code": 1,
        "non_positive_price": 1,
        "duplicate": 1,
        "extreme_order_cancel_pair": 2,
        "cancellation": 1,
    }
    assert (report.rows_in, report.rows_out, report.rows_removed) == (9, 3, 6)
    assert clean["invoice"].tolist() == ["100", "104", "C107"]
    assert clean["is_cancellation"].tolist() == [False, False, True]
    assert clean["amount"].tolist() == [3.0, 4.5, -1.5]
    assert list(clean.columns) == list(CLEAN_COLUMNS)
    assert clean["amount"].dtype == "float64"
    assert clean["is_cancellation"].dtype == "bool"


def test_removed_counts_add_up() -> None:
    frame = _canonical(
        [(None, "1", "A", 1, 1.0, "2011-01-01")] * 3 + [("1", "2", "A", 1, 1.0, "2011-01-01")] * 2
    )
    _, report = clean_transactions(frame, CleaningSettings())
    removed = sum(o.rows for o in report.outcomes if o.action == "removed")
    assert removed == report.rows_removed == 4


def test_negative_quantity_without_c_is_a_cancellation() -> None:
    frame = _canonical([("1", "100", "A", -2, 1.0, "2011-01-01")])
    clean, report = clean_transactions(frame, CleaningSettings())
    assert report.count("cancellation") == 1
    assert clean["is_cancellation"].iloc[0]


@pytest.mark.parametrize(
    ("cancel", "why"),
    [
        (("4", "C2", "X", -20000, 1.0, "2011-01-02"), "another customer"),
        (("3", "C2", "Y", -20000, 1.0, "2011-01-02"), "another product"),
        (("3", "C2", "X", -19999, 1.0, "2011-01-02"), "not in full"),
        (("3", "C2", "X", -20000, 1.0, "2010-12-31"), "before the order"),
    ],
)
def test_extreme_pairs_need_a_full_cancellation_by_the_same_customer(cancel: Row, why: str) -> None:
    frame = _canonical([("3", "1", "X", 20000, 1.0, "2011-01-01"), cancel])
    _, report = clean_transactions(frame, CleaningSettings())
    assert report.count("extreme_order_cancel_pair") == 0, why


def test_extreme_threshold_is_a_setting() -> None:
    frame = _canonical(
        [("3", "1", "X", 500, 1.0, "2011-01-01"), ("3", "C2", "X", -500, 1.0, "2011-01-02")]
    )
    _, default = clean_transactions(frame, CleaningSettings())
    _, strict = clean_transactions(frame, CleaningSettings(extreme_quantity=500))
    assert default.count("extreme_order_cancel_pair") == 0
    assert strict.count("extreme_order_cancel_pair") == 2


def test_duplicates_can_be_kept() -> None:
    frame = _canonical([("1", "1", "A", 1, 1.0, "2011-01-01")] * 2)
    clean, report = clean_transactions(frame, CleaningSettings(drop_duplicates=False))
    assert len(clean) == 2
    assert "duplicate" not in _counts(report)


def _random_lines(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows: list[Row] = [
        (
            None if rng.random() < 0.1 else str(rng.integers(5)),
            str(rng.integers(4)),
            "AB"[rng.integers(2)],
            int(rng.integers(-2, 3)),
            float(rng.integers(0, 3)),
            f"2011-01-0{rng.integers(1, 4)}",
        )
        for _ in range(n)
    ]
    return _canonical(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hashed_duplicates_equal_pandas_duplicated(seed: int) -> None:
    frame = _random_lines(400, seed)
    expected = frame.duplicated(keep="first").to_numpy()
    assert expected.sum() > 20  # the frame has many repeats
    np.testing.assert_array_equal(_duplicated(frame, row_hashes(frame)), expected)


def test_a_hash_collision_never_removes_a_row() -> None:
    # Failure injection: every row hashes alike, so only the exact comparison decides.
    frame = _random_lines(300, 3)
    expected = frame.duplicated(keep="first").to_numpy()
    np.testing.assert_array_equal(_duplicated(frame, np.zeros(len(frame), np.uint64)), expected)


def test_rules_count_what_the_earlier_rules_left() -> None:
    # Counting on all rows at once must match filtering rule by rule.
    frame = _random_lines(500, 4)
    clean, report = clean_transactions(frame, CleaningSettings())
    left = frame.loc[frame["entity_id"].notna()]
    left = left.loc[~left["stock_code"].isin(CleaningSettings().non_product_codes)]
    left = left.loc[left["unit_price"] > 0]
    duplicates = int(left.duplicated(keep="first").sum())
    assert _counts(report)["duplicate"] == duplicates
    assert len(clean) == len(left) - duplicates - _counts(report)["extreme_order_cancel_pair"]
    assert clean["timestamp"].is_monotonic_increasing


def test_output_is_sorted_by_time() -> None:
    frame = _canonical(
        [("1", "2", "A", 1, 1.0, "2011-01-02"), ("1", "1", "A", 1, 1.0, "2011-01-01")]
    )
    clean, _ = clean_transactions(frame, CleaningSettings())
    assert clean["invoice"].tolist() == ["1", "2"]


def test_needs_canonical_columns() -> None:
    with pytest.raises(DataValidationError, match="read_transactions"):
        clean_transactions(pd.DataFrame({"InvoiceNo": ["1"]}), CleaningSettings())


@pytest.mark.realdata
def test_real_data_counts(real_clean: tuple[pd.DataFrame, CleaningReport]) -> None:
    clean, report = real_clean
    assert report.rows_in == 541_909
    assert _counts(report) == {
        "missing_entity": 135_080,
        "non_product_code": 1_920,
        "non_positive_price": 33,
        "duplicate": 5_220,
        "extreme_order_cancel_pair": 4,
        "cancellation": 8_504,
    }
    assert report.rows_out == len(clean) == 399_652
    assert clean["entity_id"].nunique() == 4_361
    assert clean["quantity"].abs().max() < 80_995
    assert not clean["invoice"].isin(["581483", "C581484", "541431", "C541433"]).any()
    assert clean["amount"].sum() == pytest.approx(8_265_476.93)
