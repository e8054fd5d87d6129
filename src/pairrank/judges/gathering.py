"""Many users' pair-wise aggregations at once, their judge questions answered together.

The sliding window and the heap ask one comparison at a time, each waiting for
the one before: one user's questions are a batch of two prompts, far too
little work for a GPU (or for the wide matrix products a CPU runs best). Here
each user's aggregation runs in a thread of its own, unchanged; when every
busy thread is waiting for a verdict, the calling thread sends their questions
to the judge as one batch (`prefer_many`) and hands each thread its answers.
The model runs on the calling thread only: worker threads that ran it kept
memory of their own (an amazon re-ranking after fine-tuning in the same
process ran out of 24 GB that way).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from pairrank.judges.aggregate import PairJudge

Result = TypeVar("Result")
BATCH_USERS = 4  # users whose questions are gathered, by default (the fastest on 2 cores on both datasets; README)


class BatchJudge(Protocol):
    def prefer_many(self, requests: Sequence[tuple[Any, Sequence[tuple[int, int]]]]) -> list[np.ndarray]:
        """P(a before b) for each (history, ordered pairs) request, all answered together."""


@dataclass
class _Request:
    history: Any
    pairs: Sequence[tuple[int, int]]
    answer: np.ndarray | None = None


class GatheredJudge:
    """A `PairJudge` for worker threads: `prefer` queues the question and waits; `serve`, on the calling thread,
    answers all the queued questions with one `prefer_many` whenever every busy worker has asked (or left)."""

    def __init__(self, workers: int):
        self.busy = workers
        self.pending: list[_Request] = []
        self.failure: BaseException | None = None
        self.condition = threading.Condition()

    def prefer(self, history: Any, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        request = _Request(history, pairs)
        with self.condition:
            self.pending.append(request)
            self.condition.notify_all()
            while request.answer is None and self.failure is None:
                self.condition.wait()
            if self.failure is not None:
                raise RuntimeError("another user's judge questions failed") from self.failure
            return request.answer

    def leave(self) -> None:
        """A worker has no more users: the questions no longer wait for its own."""
        with self.condition:
            self.busy -= 1
            self.condition.notify_all()

    def serve(self, judge: BatchJudge) -> None:
        """Answer the workers' questions, a batch at a time, until every worker has left or the judge fails."""
        while True:
            with self.condition:
                while self.busy and len(self.pending) < self.busy:
                    self.condition.wait()
                if not self.pending:
                    return
                asked, self.pending = self.pending, []
            try:
                answers = judge.prefer_many([(request.history, request.pairs) for request in asked])
            except BaseException as error:
                with self.condition:
                    self.failure = error
                    self.condition.notify_all()
                return
            with self.condition:
                for request, answer in zip(asked, answers):
                    request.answer = answer
                self.condition.notify_all()


def gathered_map(
    judge: BatchJudge,
    work: Callable[[PairJudge, int], Result],
    count: int,
    workers: int,
    done: Callable[[], None] | None = None,
) -> list[Result]:
    """[work(judge, i) for i in range(count)], `workers` at a time in threads whose judge questions are answered
    together on the calling thread; `done()` after each one (a progress bar's advance, say). The first error
    raised, by the judge or in any thread, is raised here after every thread has stopped."""
    workers = max(1, min(workers, count))
    gathered = GatheredJudge(workers)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []
    claim, report = threading.Lock(), threading.Lock()
    upcoming = iter(range(count))

    def worker() -> None:
        try:
            while not errors and gathered.failure is None:
                with claim:
                    index = next(upcoming, None)
                if index is None:
                    return
                results[index] = work(gathered, index)
                if done is not None:
                    with report:
                        done()
        except BaseException as error:
            errors.append(error)
        finally:
            gathered.leave()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    gathered.serve(judge)
    for thread in threads:
        thread.join()
    if gathered.failure is not None:
        raise gathered.failure
    if errors:
        raise errors[0]
    return results
