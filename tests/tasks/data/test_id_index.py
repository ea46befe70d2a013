"""tasks/data/id_index.py: membership of pair ids kept as sorted 64-bit prefixes."""

from __future__ import annotations

import numpy as np

from tasks.data.id_index import IdIndex
from tasks.data.store import pair_id


def test_membership_matches_a_set_across_adds():
    ids = [pair_id(f"c{i}", f"r{i}") for i in range(200)]
    index = IdIndex(ids[:50])
    index.add(ids[50:100])
    index.add(ids[50:60])  # adding again changes nothing
    assert len(index) == 100 and index.nbytes == 800
    assert index.contains(ids).tolist() == [True] * 100 + [False] * 100
    assert ids[0] in index and ids[150] not in index and 5 not in index


def test_empty_index_contains_nothing():
    assert IdIndex().contains([pair_id("a", "b")]).tolist() == [False]
    assert IdIndex().contains([]).dtype == np.bool_
