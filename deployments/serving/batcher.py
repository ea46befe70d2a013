"""Merge requests that arrive within a few milliseconds into one scoring batch, off the event loop.

One asyncio task gathers queued requests (at most `max_wait` seconds after the first, at most
`max_batch_texts` texts), takes the slot's current model once, and scores all their texts together on
a single worker thread (`rmcore.score_texts` sorts them by length and runs without gradients). While a
batch is being scored, new requests queue up and form the next batch, so a busy server batches more.
A lone client is not made to wait: after a batch of one request, with nothing else queued, the next
request is scored at once; `max_wait` applies only while requests arrive together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from deployments.serving.model_slot import LoadedModel, ModelSlot

logger = logging.getLogger(__name__)

# (model, texts, count_truncated) -> (one raw reward per text, one truncation flag per text or None)
ScoreFn = Callable[[LoadedModel, list[str], bool], tuple[list[float], list[bool] | None]]


class ModelNotReadyError(RuntimeError):
    """No model is loaded yet; the message says why (loading, no version behind the alias, load failed)."""


@dataclass
class Scored:
    """One request's answer: its raw rewards, how many of its texts were truncated, and the model used."""

    rewards: list[float]
    truncated: int | None
    loaded: LoadedModel


@dataclass
class _Job:
    texts: list[str]
    count_truncated: bool
    future: asyncio.Future


def split_by_sizes(values: Sequence, sizes: Sequence[int]) -> list[list]:
    """Cut a flat list back into consecutive pieces of the given sizes (one per merged request)."""
    if sum(sizes) != len(values):
        raise ValueError(f"{len(values)} values cannot be split into pieces of {list(sizes)}")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(list(values[start : start + size]))
        start += size
    return pieces


class Batcher:
    """Score requests in merged batches on one worker thread; `submit` is awaited by each request handler."""

    def __init__(self, slot: ModelSlot, score: ScoreFn, max_wait: float = 0.005, max_batch_texts: int = 256) -> None:
        self.slot, self.score = slot, score
        self.max_wait, self.max_batch_texts = max_wait, max_batch_texts
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rewardflow-score")
        self.batches = 0  # merged batches scored so far (the benchmark reports texts per batch)
        self._busy = False  # whether the last batch merged several requests: then wait for stragglers

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="rewardflow-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, texts: list[str], count_truncated: bool = False) -> Scored:
        """Queue the texts with the next batch and wait for their rewards."""
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not awaited")
        if self.slot.current is None:
            raise ModelNotReadyError(self.slot.reason)
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(list(texts), count_truncated, future))
        return await future

    async def _gather(self) -> list[_Job]:
        """The first queued job, then whatever joins within `max_wait` (no wait for a lone client), up to
        `max_batch_texts` texts."""
        jobs = [await self._queue.get()]
        wait = self.max_wait if self._busy or not self._queue.empty() else 0.0
        total, deadline = len(jobs[0].texts), time.monotonic() + wait
        while total < self.max_batch_texts:
            if not self._queue.empty():
                job = self._queue.get_nowait()
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            jobs.append(job)
            total += len(job.texts)
        self._busy = len(jobs) > 1
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._gather()
            loaded = self.slot.current  # taken once: the whole batch runs on this version
            try:
                if loaded is None:
                    raise ModelNotReadyError(self.slot.reason)
                texts = [t for job in jobs for t in job.texts]
                count = any(job.count_truncated for job in jobs)
                rewards, cut = await loop.run_in_executor(self._executor, self.score, loaded, texts, count)
                self.batches += 1
            except Exception as err:  # every waiting request gets the error; the loop goes on
                logger.exception("scoring a batch of %d request(s) failed", len(jobs))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(err)
                continue
            sizes = [len(job.texts) for job in jobs]
            cut_pieces = split_by_sizes(cut, sizes) if cut is not None else [None] * len(jobs)
            for job, piece, flags in zip(jobs, split_by_sizes(rewards, sizes), cut_pieces, strict=True):
                if not job.future.done():  # the client may have gone away
                    truncated = int(sum(flags)) if flags is not None and job.count_truncated else None
                    job.future.set_result(Scored(piece, truncated, loaded))
