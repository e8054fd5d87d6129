"""Many users' pair-wise aggregations at once, their judge questions answered together.

The sliding window and the heap ask one comparison at a time, each waiting for
the one before: one user's questions are a batch of two prompts, far too
little work for a GPU (or for the wide matrix products a CPU runs best). Here
each user's aggregation runs in a thread of its own, unchanged; when every
busy thread is waiting for a verdict, their questions go to the judge as one
batch (`prefer_many`), and each thread gets its answers back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from pairrank.judges.aggregate import PairJudge

Result = TypeVar("Result")
BATCH_USERS = 1  # users whose questions are gathered, by default: one (see README: memory on CPU)


class BatchJudge(Protocol):
    def prefer_many(self, requests: Sequence[tuple[Any, Sequence[tuple[int, int]]]]) -> list[np.ndarray]:
        """P(a before b) for each (history, ordered pairs) request, all answered together."""


@dataclass
class _Request:
    history: Any
    pairs: Sequence[tuple[int, int]]
    answer: np.ndarray | None = None


class GatheredJudge:
    """A `PairJudge` for worker threads: `prefer` waits until every busy worker has asked (or left), then one of
    them answers all the questions with one `prefer_many`."""

    def __init__(self, judge: BatchJudge, workers: int):
        self.judge, self.busy = judge, workers
        self.pending: list[_Request] = []
        self.failure: BaseException | None = None
        self.condition = threading.Condition()
        self.batches = 0  # `prefer_many` calls so far

    def prefer(self, history: Any, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        request = _Request(history, pairs)
        with self.condition:
            self.pending.append(request)
            self._answer_when_all_asked()
            while request.answer is None and self.failure is None:
                self.condition.wait()
            if self.failure is not None:
                raise RuntimeError("another user's judge questions failed") from self.failure
            return request.answer

    def leave(self) -> None:
        """A worker has no more users: the others no longer wait for its questions."""
        with self.condition:
            self.busy -= 1
            try:
                self._answer_when_all_asked()
            except BaseException:  # kept in `failure`; the waiting workers and `gathered_map` raise it
                pass

    def _answer_when_all_asked(self) -> None:
        if not self.pending or len(self.pending) < self.busy or self.failure is not None:
            return
        asked, self.pending = self.pending, []
        try:
            answers = self.judge.prefer_many([(request.history, request.pairs) for request in asked])
        except BaseException as error:
            self.failure = error
            self.condition.notify_all()
            raise
        self.batches += 1
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
    together; `done()` after each one (a progress bar's advance, say). The first error raised in any thread is
    raised here, after every thread has stopped."""
    workers = max(1, min(workers, count))
    gathered = GatheredJudge(judge, workers)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []
    claim, report = threading.Lock(), threading.Lock()
    upcoming = iter(range(count))

    def worker() -> None:
        try:
            while not errors:
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
    for thread in threads:
        thread.join()
    if gathered.failure is not None:
        raise gathered.failure
    if errors:
        raise errors[0]
    return results
