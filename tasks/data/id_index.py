"""`IdIndex`: the set of pair ids an ingest checks duplicates against, in 8 bytes a pair.

A 10 GB file holds millions of pairs; a Python set of their 64-character hex ids costs ~120 bytes each,
so chunked ingest would still grow without bound. The index keeps the first 64 bits of each sha256 id
as a sorted uint64 array. Two different pairs share a prefix with probability about n^2 / 2^65
(3e-6 for 10 million pairs); such a pair would be quarantined as a duplicate, never lost silently.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

_PREFIX_HEX = 16


def id_keys(ids: Iterable[str]) -> np.ndarray:
    """uint64 keys of hex pair ids (their first 64 bits)."""
    text = "".join(pid[:_PREFIX_HEX] for pid in ids)
    return np.frombuffer(bytes.fromhex(text), dtype=">u8").astype(np.uint64)


class IdIndex:
    """A growing set of pair ids with vectorised membership (`contains`) and `in` for one id."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._keys = np.unique(id_keys(ids))

    def add(self, ids: Iterable[str]) -> None:
        self._keys = np.union1d(self._keys, id_keys(ids))

    def contains(self, ids: Iterable[str]) -> np.ndarray:
        """Boolean array: which of `ids` are in the index."""
        keys = id_keys(ids)
        if not len(self._keys):
            return np.zeros(len(keys), dtype=bool)
        where = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        return self._keys[where] == keys

    def __contains__(self, pid: object) -> bool:
        return isinstance(pid, str) and bool(self.contains([pid])[0])

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        return int(self._keys.nbytes)
