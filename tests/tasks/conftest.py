"""Fixtures for the task tests: the bad-input corpus (with the rule each bad row must break),
the shared real pairs, and one Prefect test harness per session (a real temporary API and database).
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_PAIRS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"


def line(obj: object) -> bytes:
    """One JSON line; NaN/Infinity are written as Python's json writes them (bare NaN, Infinity)."""
    return json.dumps(obj).encode()


@dataclass
class Corpus:
    """Files built by `bad_corpus`: which (file, line) is good and which rules each bad row must break."""

    folder: Path
    good: dict[tuple[str, int], str] = field(default_factory=dict)  # (file, line) -> chosen text
    bad: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # (file, line) -> rules

    @property
    def files(self) -> list[str]:
        return sorted({f for f, _ in [*self.good, *self.bad]} | {str(self.folder / "empty.jsonl")})

    @property
    def read(self) -> int:
        return len(self.good) + len(self.bad)


# (raw line, expected rules or None for good). Line 1 gets a BOM, and every line ends in CRLF.
MIXED = [
    (line({"chosen": "good one", "rejected": "bad one"}), None),
    (line({"chosen": "good two", "rejected": "bad two"}), None),
    (b'{"chosen": "x", "rejected": ', ["json_parse"]),
    (line({"chosen": "only chosen"}), ["required_fields"]),
    (line({"chosen": "", "rejected": "r"}), ["non_empty"]),
    (line({"chosen": "  \t ", "rejected": "r"}), ["non_empty"]),
    (line({"chosen": "same", "rejected": "same"}), ["chosen_ne_rejected"]),
    (b'{"chosen": "caf\xe9", "rejected": "x"}', ["utf8"]),
    (line({"chosen": "x" * 1_000_001, "rejected": "y"}), ["row_size"]),
    (line({"chosen": "c nan", "rejected": "r", "margin": float("nan")}), ["margin_finite"]),
    (line({"chosen": "c inf", "rejected": "r", "margin": float("inf")}), ["margin_finite"]),
    (line({"chosen": "c str", "rejected": "r", "margin": "1.5"}), ["margin_finite"]),
    (line({"chosen": "good one", "rejected": "bad one"}), ["duplicate"]),
    (line({"chosen": "bad two", "rejected": "good two"}), ["swapped_duplicate"]),
    (line({"chosen": "good three", "rejected": "bad three", "margin": 2.0}), None),
    (line({"chosen": "good four", "rejected": "bad four", "score_chosen": 5, "score_rejected": 1.5}), None),
    (b"   ", "blank"),
    (line({"chosen": 5, "rejected": "r"}), ["string_type"]),
    (b"[1, 2]", ["json_parse"]),
    (b'{"chosen": "lone \\ud800 surrogate", "rejected": "r"}', ["utf8"]),
    (line({"chosen": "", "rejected": "r2", "margin": "x"}), ["non_empty", "margin_finite"]),
]


def write_mixed(folder: Path, corpus: Corpus) -> None:
    path = folder / "mixed.jsonl"
    body = b"\xef\xbb\xbf" + b"".join(raw + b"\r\n" for raw, _ in MIXED)
    path.write_bytes(body)
    for number, (raw, rules) in enumerate(MIXED, start=1):
        if rules is None:
            corpus.good[(str(path), number)] = json.loads(raw)["chosen"]
        elif rules != "blank":
            corpus.bad[(str(path), number)] = rules


def write_cut_gzip(folder: Path, corpus: Corpus, rows: int = 40) -> None:
    """A gzip file cut off mid-stream: the complete lines before the cut are good, the cut line is bad."""
    lines = [line({"chosen": f"gz chosen {i} " + "pad " * 30, "rejected": f"gz rejected {i}"}) for i in range(rows)]
    full = gzip.compress(b"\n".join(lines) + b"\n")
    path = folder / "cut.jsonl.gz"
    path.write_bytes(full[: len(full) * 2 // 3])
    survived = _complete_lines(path)
    for number in range(1, survived + 1):
        corpus.good[(str(path), number)] = json.loads(lines[number - 1])["chosen"]
    corpus.bad[(str(path), survived + 1)] = ["truncated_file"]


def _complete_lines(path: Path) -> int:
    """How many whole lines a reader can recover from a truncated gzip (zlib stops at the cut)."""
    import zlib

    data = zlib.decompressobj(wbits=31).decompress(path.read_bytes())
    return data.count(b"\n")


@pytest.fixture
def bad_corpus(tmp_path: Path) -> Corpus:
    corpus = Corpus(tmp_path)
    write_mixed(tmp_path, corpus)
    write_cut_gzip(tmp_path, corpus)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    return corpus


@pytest.fixture
def shared_pairs() -> Path:
    if not SHARED_PAIRS.is_file():
        pytest.skip(f"shared data not found at {SHARED_PAIRS}")
    return SHARED_PAIRS


@pytest.fixture
def write_pairs():
    """A function writing pairs as JSONL to a path (tests import fixtures, not conftest, to avoid name clashes)."""

    def write(path: Path, pairs: list[dict]) -> Path:
        path.write_bytes(b"".join(line(p) + b"\n" for p in pairs))
        return path

    return write
