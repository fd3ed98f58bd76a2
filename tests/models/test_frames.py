"""Entity chunks (slices of rows that never split an entity) and entity positions."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from glocal.models.frames import entity_chunks, entity_positions


def test_chunks_cover_every_row_once_and_never_split_an_entity() -> None:
    codes = np.repeat(np.arange(50), np.random.default_rng(0).integers(1, 9, size=50))
    chunks = entity_chunks(codes, 20)
    assert chunks[0].start == 0 and chunks[-1].stop == len(codes)
    assert all(a.stop == b.start for a, b in itertools.pairwise(chunks))
    for chunk in chunks[1:]:
        assert codes[chunk.start] != codes[chunk.start - 1]
    assert len(chunks) > 5


def test_an_entity_longer_than_a_chunk_is_one_chunk() -> None:
    codes = np.array([0, 1, 1, 1, 1, 1, 2])
    assert entity_chunks(codes, 2) == [slice(0, 1), slice(1, 6), slice(6, 7)]


def test_unsorted_or_non_integer_entities_are_one_chunk() -> None:
    assert entity_chunks(np.array([2, 0, 1, 1]), 1) == [slice(0, 4)]
    assert entity_chunks(np.array(["a", "a", "b"]), 1) == [slice(0, 3)]
    assert entity_chunks(np.array([], dtype=np.int64), 5) == [slice(0, 0)]


def test_entity_positions_are_get_indexers_for_codes_subsets_and_text() -> None:
    rng = np.random.default_rng(2)
    everyone = pd.Index(np.arange(40))
    subset = pd.Index(np.sort(rng.choice(60, size=25, replace=False)))
    sparse = pd.Index([3, 40, 10**9])  # a span far longer than the ids: binary search
    text = pd.Index([f"e{i}" for i in range(30)])
    ids = rng.integers(-3, 70, size=200)
    named = np.array([f"e{i}" for i in ids])
    for entities, rows in ((everyone, ids), (subset, ids), (sparse, ids), (text, named)):
        expected = entities.get_indexer(pd.Index(rows))
        np.testing.assert_array_equal(entity_positions(rows, entities), expected)
    assert entity_positions(ids, pd.Index([], dtype=np.int64)).tolist() == [-1] * len(ids)
