"""The batcher scores requests in token-bounded slices, round-robin between them, each with its own rewards."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque

import pytest

from deployments.serving.batcher import Batcher, Job, take_slice
from deployments.serving.model_slot import ModelSlot, load_folder, score_loaded
from rmcore import score_texts
from rmcore.data.tokenization import tokenize_texts
from rmcore.models.scoring import ScoringConfig
from tests.tasks import mlflow_fixtures as fx

model_dirs = fx.model_dirs
FP32 = ScoringConfig()


def job(lengths: list[int], loaded: object = "v1") -> Job:
    """A request of texts with these token counts (the ids themselves do not matter to slicing)."""
    return Job([[0] * n for n in lengths], loaded, future=None)  # type: ignore[arg-type]


def test_a_slice_takes_one_text_from_each_request_in_turn_up_to_its_token_budget():
    big, small = job([10] * 20), job([3])
    rotation = deque([big, small])
    first = take_slice(rotation, max_texts=100, max_tokens=25)
    assert [(j is big, i) for j, i in first] == [(True, 0), (False, 0), (True, 1)]  # 10 + 3 + 10 tokens
    assert small.waiting_texts == 0 and big.handed_out == 2
    second = take_slice(rotation, max_texts=100, max_tokens=25)  # the small one has nothing left: big alone
    assert [i for _, i in second] == [2, 3]
    third = take_slice(deque([job([40]), job([1])]), max_texts=100, max_tokens=25)
    assert len(third) == 1  # a text over the budget is never split: it goes alone


def test_a_slice_never_mixes_model_versions_or_exceeds_max_texts():
    old, new = job([1, 1, 1], loaded="v1"), job([1, 1], loaded="v2")
    picked = take_slice(deque([old, new]), max_texts=2, max_tokens=100)
    assert [j for j, _ in picked] == [old, old]


def ids_of(loaded, texts):
    return tokenize_texts(texts, loaded.tokenizer, loaded.max_length)[0]


def test_concurrent_requests_are_merged_and_answered_with_their_own_rewards(model_dirs):
    slot = ModelSlot()
    loaded = load_folder(model_dirs["good"], "7", {})
    slot.swap(loaded)
    requests = [[f"text {i} " * (i + 1), f"other {i}"] for i in range(8)]
    expected = [score_texts(loaded.model, loaded.tokenizer, texts) for texts in requests]

    async def scenario():
        batcher = Batcher(slot, functools.partial(score_loaded, config=FP32), max_wait=0.2, max_batch_texts=64)
        await batcher.start()
        try:
            results = await asyncio.gather(*(batcher.submit(loaded, ids_of(loaded, texts)) for texts in requests))
        finally:
            await batcher.stop()
        return results, batcher.batches

    results, batches = asyncio.run(scenario())
    assert batches == 1  # all eight arrived within max_wait, and fit one slice
    for result, want in zip(results, expected, strict=True):
        assert result.rewards == pytest.approx(want, abs=1e-5)
        assert result.loaded.version == "7"


def test_a_large_request_is_scored_in_slices_and_a_small_one_is_answered_in_between(model_dirs):
    slot = ModelSlot()
    loaded = load_folder(model_dirs["good"], "1", {})
    slot.swap(loaded)
    big_texts = [f"sun rain {i} " * 20 for i in range(40)]
    big_ids, small_ids = ids_of(loaded, big_texts), ids_of(loaded, ["warm light"])
    per_slice = 2 * len(big_ids[0])
    finished: list[str] = []

    def slow(model, ids):  # every slice takes at least 5 ms, so the order below does not hang on the CPU's speed
        time.sleep(0.005)
        return score_loaded(model, ids, FP32)

    async def scenario():
        batcher = Batcher(slot, slow, max_batch_tokens=per_slice)
        await batcher.start()

        async def send(name, ids):
            result = await batcher.submit(loaded, ids)
            finished.append(name)
            return result

        try:
            big = asyncio.create_task(send("big", big_ids))
            while batcher.batches < 1:  # the large request is being scored
                await asyncio.sleep(0.001)
            small = await send("small", small_ids)
            big = await big
        finally:
            await batcher.stop()
        return big, small, batcher.batches

    big, small, batches = asyncio.run(scenario())
    assert finished == ["small", "big"]
    assert batches >= len(big_texts) // 2  # two long texts per slice
    assert big.rewards == pytest.approx(score_texts(loaded.model, loaded.tokenizer, big_texts), abs=1e-5)
    assert small.rewards == pytest.approx(score_texts(loaded.model, loaded.tokenizer, ["warm light"]), abs=1e-5)


def test_a_batch_never_exceeds_max_batch_texts(model_dirs):
    slot = ModelSlot()
    loaded = load_folder(model_dirs["good"], "1", {})
    slot.swap(loaded)

    async def scenario():
        batcher = Batcher(slot, functools.partial(score_loaded, config=FP32), max_wait=0.2, max_batch_texts=4)
        await batcher.start()
        try:
            await asyncio.gather(*(batcher.submit(loaded, ids_of(loaded, ["a", "b"])) for _ in range(6)))
        finally:
            await batcher.stop()
        return batcher.batches

    assert asyncio.run(scenario()) == 3


def test_a_lone_client_is_not_made_to_wait(model_dirs):
    """One request at a time is scored at once; requests arriving together still wait to be merged."""
    slot = ModelSlot()
    loaded = load_folder(model_dirs["good"], "1", {})
    slot.swap(loaded)
    max_wait = 2.0
    one = ids_of(loaded, ["a lone text"])

    async def scenario():
        batcher = Batcher(slot, functools.partial(score_loaded, config=FP32), max_wait=max_wait, max_batch_texts=64)
        await batcher.start()
        try:
            began = asyncio.get_running_loop().time()
            for _ in range(3):  # one client, one request after the other
                await batcher.submit(loaded, one)
            lone = asyncio.get_running_loop().time() - began
            # two arrive together, a third 0.1 s later: the busy batcher waits for it
            first = asyncio.gather(*(batcher.submit(loaded, one) for _ in range(2)))
            await asyncio.sleep(0.1)
            await asyncio.gather(first, batcher.submit(loaded, one))
        finally:
            await batcher.stop()
        return lone, batcher.batches

    lone, batches = asyncio.run(scenario())
    assert lone < max_wait  # none of the three waited for company
    assert batches == 4  # three lone slices, then one of three requests


def test_a_failing_slice_fails_its_requests_and_the_batcher_goes_on(model_dirs):
    slot = ModelSlot()
    loaded = load_folder(model_dirs["good"], "1", {})
    slot.swap(loaded)
    calls = []

    def flaky(model, ids):
        calls.append(len(ids))
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return [0.5] * len(ids)

    async def scenario():
        batcher = Batcher(slot, flaky)
        await batcher.start()
        try:
            with pytest.raises(RuntimeError, match="out of memory"):
                await batcher.submit(loaded, [[1, 2]])
            return await batcher.submit(loaded, [[1, 2]])
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()).rewards == [0.5]
