"""The reward and margin histograms PNG."""

from __future__ import annotations

import numpy as np

from rmcore.evaluation.plots import plot_reward_histograms


def test_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    path = plot_reward_histograms(rng.normal(1, 1, 50), rng.normal(0, 1, 50), tmp_path / "a" / "r.png", "step 3")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 1000
