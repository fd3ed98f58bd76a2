"""Tests of the per-entity content digests and of their file beside each data version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from glocal.config import Settings, Workspace
from glocal.core.errors import DataFileError
from glocal.data import ingest_file
from glocal.data.cleaning import clean_transactions, clean_with_digests
from glocal.data.columns import CANONICAL_COLUMNS
from glocal.data.demo import generate_demo_transactions
from glocal.data.digests import (
    DIGESTS_FILE,
    changed_entities,
    entity_digests,
    load_entity_digests,
    row_hashes,
)
from glocal.data.readers import read_transactions


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory, small_demo: pd.DataFrame) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("digests") / "demo.parquet"
    small_demo.to_parquet(path, index=False)
    return read_transactions(path, Settings().columns)


def _digests(frame: pd.DataFrame) -> pd.DataFrame:
    return entity_digests(frame["entity_id"], row_hashes(frame.loc[:, list(CANONICAL_COLUMNS)]))


def test_digests_ignore_line_order_and_see_every_value(raw: pd.DataFrame):
    clean, _ = clean_transactions(raw, Settings().cleaning)
    before = _digests(clean)
    shuffled = clean.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(_digests(shuffled), before)

    edited = clean.copy()
    row = edited.index[edited["entity_id"] == edited["entity_id"].iloc[0]][0]
    edited.loc[row, "stock_code"] = "ANOTHER"  # count, time and money unchanged
    assert list(changed_entities(before, _digests(edited))) == [edited.loc[row, "entity_id"]]


def test_new_and_gone_entities(raw: pd.DataFrame):
    clean, _ = clean_transactions(raw, Settings().cleaning)
    ids = sorted(clean["entity_id"].unique())
    gone = clean[clean["entity_id"] != ids[0]]
    extra = clean[clean["entity_id"] == ids[1]].assign(entity_id="new-customer")
    after = pd.concat([gone, extra], ignore_index=True)
    assert list(changed_entities(_digests(clean), _digests(after))) == ["new-customer"]


def test_sums_wrap_modulo_two_to_the_64():
    top = np.uint64(2**64 - 1)
    hashes = np.array([top, top, np.uint64(3)], dtype=np.uint64)
    digest = entity_digests(pd.Series(["a", "a", "a"]), hashes)["digest"].to_numpy()
    assert digest.view(np.uint64)[0] == np.uint64(1)  # 2 * (2**64 - 1) + 3 mod 2**64


def test_cleaning_digests_are_those_of_the_clean_lines(raw: pd.DataFrame):
    cleaned = clean_with_digests(raw, Settings().cleaning)
    pd.testing.assert_frame_equal(cleaned.digests, _digests(cleaned.frame))


def test_ingest_stores_the_digests(tmp_path: Path):
    workspace = Workspace(tmp_path / "ws")
    workspace.init()
    data = tmp_path / "demo.parquet"
    generate_demo_transactions(n_customers=30, seed=5).to_parquet(data, index=False)
    result = ingest_file(data, workspace, workspace.settings())
    stored = load_entity_digests(workspace, result.version.version)
    assert stored is not None
    assert (result.processed_dir / DIGESTS_FILE).is_file()
    assert len(stored) == result.version.entities_clean
    assert load_entity_digests(workspace, "0" * 12) is None
    (result.processed_dir / DIGESTS_FILE).write_bytes(b"damaged")
    with pytest.raises(DataFileError, match=r"entity digests.*Delete that file"):
        load_entity_digests(workspace, result.version.version)
