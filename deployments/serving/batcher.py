"""Score requests in slices of bounded tokens, taking turns between requests, off the event loop.

Requests arrive already tokenized (and truncated), each pinned to the model version that tokenized
it. One asyncio task keeps the requests in progress in a rotation and builds each slice round-robin:
one text from each request in turn, until the slice holds `max_batch_tokens` tokens or
`max_batch_texts` texts. The slice is scored on a single worker thread (`rmcore.models.scoring.
score_token_ids`, length-sorted, no gradients); a request is answered once all its texts are scored.

Why slices: a request of hundreds of long texts would otherwise hold the model for minutes while a
one-text request waits behind it. Sliced, the one-text request joins the next slice, so it waits at
most for the slice in flight plus its own; the large request goes on in the slices after it. A
slice also merges texts of requests arriving together (several RL workers), so a busy server still
batches. A lone client is not made to wait: requests are gathered for up to `max_wait` seconds only
while several arrive together. A request whose client went away is dropped from the rotation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from deployments.serving.model_slot import LoadedModel, ModelSlot

logger = logging.getLogger(__name__)

# (model, token lists) -> one raw reward per token list, in order
ScoreFn = Callable[[LoadedModel, list[list[int]]], list[float]]


class ModelNotReadyError(RuntimeError):
    """No model is loaded yet; the message says why (loading, no version behind the alias, load failed)."""


@dataclass
class Scored:
    """One request's answer: its raw rewards, in order, and the model version that scored all of them."""

    rewards: list[float]
    loaded: LoadedModel


@dataclass(eq=False)  # compared by identity: two requests with the same texts are two requests
class Job:
    """A request in the rotation: its token lists, the model it was tokenized for, and how far it got."""

    ids: list[list[int]]
    loaded: LoadedModel
    future: asyncio.Future
    rewards: list[float] = field(default_factory=list)
    handed_out: int = 0  # texts put into slices so far
    scored: int = 0  # texts whose rewards came back

    def __post_init__(self) -> None:
        self.rewards = [0.0] * len(self.ids)

    @property
    def waiting_texts(self) -> int:
        return len(self.ids) - self.handed_out


Slice = list[tuple[Job, int]]  # (request, index of one of its texts)


def take_slice(rotation: deque[Job], max_texts: int, max_tokens: int) -> Slice:
    """The next slice: one text from each request in turn, starting at the head of the rotation (its first
    request with texts left; an empty slice when none has any).

    Only requests pinned to the same model as the head's join it (a swap never mixes versions in a
    forward). The first text always goes in, even alone over `max_tokens` (a text is never split: it is
    at most the model's max_length). The rotation turns by one, so the next slice starts elsewhere.
    """
    head = next((job for job in rotation if job.waiting_texts), None)
    candidates = [job for job in rotation if job.waiting_texts and job.loaded is head.loaded] if head else []
    picked: Slice = []
    tokens = 0
    while candidates and len(picked) < max_texts:
        for job in list(candidates):
            length = len(job.ids[job.handed_out])
            if picked and (tokens + length > max_tokens or len(picked) >= max_texts):
                candidates = []
                break
            picked.append((job, job.handed_out))
            job.handed_out += 1
            tokens += length
            if not job.waiting_texts:
                candidates.remove(job)
    rotation.rotate(-1)
    return picked


class Batcher:
    """Score requests slice by slice on one worker thread; `submit` is awaited by each request handler."""

    def __init__(
        self,
        slot: ModelSlot,
        score: ScoreFn,
        max_wait: float = 0.005,
        max_batch_texts: int = 256,
        max_batch_tokens: int = 1024,
    ) -> None:
        self.slot, self.score = slot, score
        self.max_wait, self.max_batch_texts, self.max_batch_tokens = max_wait, max_batch_texts, max_batch_tokens
        self._queue: asyncio.Queue[Job] | None = None
        self._rotation: deque[Job] = deque()
        self._pending: set[Job] = set()  # submitted and not yet answered (queued or in the rotation)
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rewardflow-score")
        self.batches = 0  # slices scored so far (the benchmark reports texts per slice)
        self._busy = False  # whether the last slice merged several requests: then wait for stragglers

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="rewardflow-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    def load(self) -> dict[str, int]:
        """What waits to be scored, for `/health`: requests admitted or queued, and their texts not yet scored."""
        return {"requests": len(self._pending), "texts": sum(len(job.ids) - job.scored for job in self._pending)}

    async def submit(self, loaded: LoadedModel, ids: list[list[int]]) -> Scored:
        """Queue a request's token lists (tokenized for `loaded`) and wait for all their rewards."""
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not awaited")
        job = Job([list(x) for x in ids], loaded, asyncio.get_running_loop().create_future())
        self._pending.add(job)
        try:
            await self._queue.put(job)
            return await job.future
        finally:
            self._pending.discard(job)

    def _admit(self) -> None:
        """Move every queued request into the rotation, without waiting."""
        while not self._queue.empty():
            self._rotation.append(self._queue.get_nowait())

    async def _gather(self) -> None:
        """With nothing in progress, wait for a request; while requests come together, wait up to `max_wait`
        for more of them (never for a lone client), as long as the next slice has room."""
        if self._rotation:
            self._admit()
            return
        self._rotation.append(await self._queue.get())
        together = not self._queue.empty()
        self._admit()
        if not (self._busy or together):
            return
        deadline = time.monotonic() + self.max_wait
        while sum(job.waiting_texts for job in self._rotation) < self.max_batch_texts:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                self._rotation.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
            self._admit()

    def _drop_abandoned(self) -> None:
        """Requests whose client went away (future cancelled) leave the rotation: their texts are not scored."""
        for job in [job for job in self._rotation if job.future.done()]:
            self._rotation.remove(job)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._gather()
            self._drop_abandoned()
            if not self._rotation:
                continue
            picked = take_slice(self._rotation, self.max_batch_texts, self.max_batch_tokens)
            if not picked:  # every text handed out yet some request unanswered: never wait on it forever
                for job in list(self._rotation):
                    self._finish(job, error=RuntimeError("the request's texts were handed out but not scored"))
                continue
            jobs = list(dict.fromkeys(job for job, _ in picked))
            loaded = picked[0][0].loaded  # every text of a slice was tokenized for the same version
            try:
                ids = [job.ids[i] for job, i in picked]
                rewards = await loop.run_in_executor(self._executor, self.score, loaded, ids)
            except Exception as err:  # the requests in this slice get the error; the loop goes on
                logger.exception("scoring a slice of %d request(s) failed", len(jobs))
                for job in jobs:
                    self._finish(job, error=err)
                continue
            self.batches += 1
            self._busy = len(jobs) > 1
            for (job, i), reward in zip(picked, rewards, strict=True):
                job.rewards[i] = reward
                job.scored += 1
            for job in jobs:
                if job.scored == len(job.ids):
                    self._finish(job)

    def _finish(self, job: Job, error: Exception | None = None) -> None:
        if job in self._rotation:
            self._rotation.remove(job)
        if job.future.done():  # the client may have gone away
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(Scored(job.rewards, job.loaded))
