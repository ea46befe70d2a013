"""The batcher merges concurrent requests into one scoring batch and gives each its own rewards back."""

from __future__ import annotations

import asyncio
import functools

import pytest

from deployments.serving.batcher import Batcher, ModelNotReadyError, split_by_sizes
from deployments.serving.model_slot import ModelSlot, load_folder, score_loaded
from rmcore import score_texts
from tests.tasks import mlflow_fixtures as fx

model_dirs = fx.model_dirs


def test_split_by_sizes_cuts_a_flat_list_back_into_requests():
    assert split_by_sizes([1, 2, 3, 4, 5, 6], [1, 3, 2]) == [[1], [2, 3, 4], [5, 6]]
    with pytest.raises(ValueError, match="cannot be split"):
        split_by_sizes([1, 2], [3])


def test_concurrent_requests_are_merged_and_answered_with_their_own_rewards(model_dirs):
    slot = ModelSlot()
    loaded = load_folder(model_dirs["good"], "7", {})
    slot.swap(loaded)
    requests = [[f"text {i} " * (i + 1), f"other {i}"] for i in range(8)]
    # fp32: under bf16 autocast a reward depends (within bf16 rounding) on the shapes of the batch it ran in.
    expected = [score_texts(loaded.model, loaded.tokenizer, texts, bf16=False) for texts in requests]
    fp32 = functools.partial(score_loaded, bf16=False)

    async def scenario():
        batcher = Batcher(slot, fp32, max_wait=0.2, max_batch_texts=64)
        await batcher.start()
        try:
            results = await asyncio.gather(*(batcher.submit(texts, count_truncated=True) for texts in requests))
        finally:
            await batcher.stop()
        return results, batcher.batches

    results, batches = asyncio.run(scenario())
    assert batches == 1  # all eight arrived within max_wait
    for result, want in zip(results, expected, strict=True):
        assert result.rewards == pytest.approx(want, abs=1e-5)
        assert result.loaded.version == "7" and result.truncated == 0


def test_a_batch_never_exceeds_max_batch_texts(model_dirs):
    slot = ModelSlot()
    slot.swap(load_folder(model_dirs["good"], "1", {}))

    async def scenario():
        batcher = Batcher(slot, score_loaded, max_wait=0.2, max_batch_texts=4)
        await batcher.start()
        try:
            await asyncio.gather(*(batcher.submit(["a", "b"]) for _ in range(6)))
        finally:
            await batcher.stop()
        return batcher.batches

    assert asyncio.run(scenario()) == 3


def test_no_model_is_refused_with_the_reason():
    async def scenario():
        batcher = Batcher(ModelSlot("no version has alias 'champion' yet"), score_loaded)
        await batcher.start()
        try:
            await batcher.submit(["a"])
        finally:
            await batcher.stop()

    with pytest.raises(ModelNotReadyError, match="alias 'champion'"):
        asyncio.run(scenario())


def test_a_lone_client_is_not_made_to_wait(model_dirs):
    """One request at a time is scored at once; requests arriving together still wait to be merged."""
    slot = ModelSlot()
    slot.swap(load_folder(model_dirs["good"], "1", {}))
    max_wait = 2.0

    async def scenario():
        batcher = Batcher(slot, score_loaded, max_wait=max_wait, max_batch_texts=64)
        await batcher.start()
        try:
            began = asyncio.get_running_loop().time()
            for _ in range(3):  # one client, one request after the other
                await batcher.submit(["a lone text"])
            lone = asyncio.get_running_loop().time() - began
            # two arrive together, a third 0.1 s later: the busy batcher waits for it
            first = asyncio.gather(*(batcher.submit(["together"]) for _ in range(2)))
            await asyncio.sleep(0.1)
            await asyncio.gather(first, batcher.submit(["straggler"]))
        finally:
            await batcher.stop()
        return lone, batcher.batches

    lone, batches = asyncio.run(scenario())
    assert lone < max_wait  # none of the three waited for company
    assert batches == 4  # three lone batches, then one of three requests
