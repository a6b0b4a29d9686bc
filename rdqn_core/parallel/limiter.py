"""A blocking rate limiter that holds the replay ratio (Chapter 7).

Reverb's ``SampleToInsertRatio`` (Cassirer et al., 2021), in updates and environment steps:
``inserts`` counts environment steps written to the replay, ``samples`` counts gradient updates,
and the limiter keeps

    diff = inserts * ratio - samples

inside ``[offset - tolerance, offset + tolerance]`` with ``offset = ratio * min_size``. An insert
that would push ``diff`` above the band waits for updates; an update that would pull it below
waits for inserts; nothing is sampled before ``min_size`` inserts. Over a run the updates then
track ``ratio * (inserts - min_size)`` to within ``tolerance`` (plus one insert's worth): the
trainer's ``updates_per_step`` after ``learning_starts``, held across processes.

Waiting uses one :class:`threading.Condition`: a blocked caller sleeps until the other side
changes the counters and wakes it (no sleep-polling, no busy loop). ``close()`` wakes everyone
for shutdown. ``free_running=True`` never blocks an insert or an update (after ``min_size``) and
only counts, so that a run can report the ratio it got.
"""
from __future__ import annotations

import math
import threading
import time

__all__ = ["RateLimiter", "LimiterClosed"]


class LimiterClosed(RuntimeError):
    """Raised to a caller that waits on (or calls) a limiter that has been closed."""


class RateLimiter:
    """Hold ``samples / inserts`` at ``ratio`` (after ``min_size`` inserts), within ``tolerance`` samples.

    Args:
        ratio: samples (gradient updates) per insert (environment step): ``TrainConfig.updates_per_step``.
        min_size: inserts before the first sample (``TrainConfig.learning_starts``, at least 1).
        tolerance: how many samples ``diff`` may stray from its target either way (Reverb's
            ``error_buffer``). It must exceed the largest single insert times ``ratio`` plus one,
            or a big insert could never fit: the constructor cannot know insert sizes, so
            :meth:`await_insert` raises for an insert too large for the band.
        free_running: only count, never block (after ``min_size``).
    """

    def __init__(self, ratio: float, min_size: int, tolerance: float, free_running: bool = False):
        if not ratio > 0 or not math.isfinite(ratio):
            raise ValueError(f"ratio must be a positive number of updates per env step, got {ratio}")
        if min_size < 1:
            raise ValueError(f"min_size must be >= 1 insert, got {min_size}")
        if not tolerance >= 1:
            raise ValueError(f"tolerance must be >= 1 sample, got {tolerance}")
        self.ratio, self.min_size, self.tolerance = float(ratio), int(min_size), float(tolerance)
        self.free_running = free_running
        self.offset = self.ratio * self.min_size
        self.inserts, self.samples = 0, 0
        self.insert_wait_seconds, self.sample_wait_seconds = 0.0, 0.0
        self.closed = False
        self._cond = threading.Condition()

    # the two predicates, with the lock held
    def _diff(self) -> float:
        return self.inserts * self.ratio - self.samples

    def can_insert(self, n: int = 1) -> bool:
        if self.free_running or self.inserts < self.min_size:
            return True
        return self._diff() + n * self.ratio <= self.offset + self.tolerance

    def can_sample(self, n: int = 1) -> bool:
        if self.inserts < self.min_size:
            return False
        return self.free_running or self._diff() - n >= self.offset - self.tolerance

    def _wait(self, ready, timeout: float | None) -> tuple[bool, float]:
        t0 = time.perf_counter()
        ok = self._cond.wait_for(lambda: self.closed or ready(), timeout)
        if self.closed:
            raise LimiterClosed("the rate limiter was closed while waiting (the run is shutting down)")
        return ok, time.perf_counter() - t0

    def await_insert(self, n: int = 1, timeout: float | None = None) -> bool:
        """Block until ``n`` inserts fit, then count them. False if ``timeout`` seconds passed first."""
        if not self.free_running and self.inserts >= self.min_size and n * self.ratio > 2 * self.tolerance:
            raise ValueError(f"an insert of {n} steps at ratio {self.ratio} moves diff by {n * self.ratio} samples, "
                             f"more than the band 2 * tolerance = {2 * self.tolerance}; raise the tolerance or "
                             "send smaller chunks")
        with self._cond:
            ok, waited = self._wait(lambda: self.can_insert(n), timeout)
            self.insert_wait_seconds += waited
            if ok:
                self.inserts += n
                self._cond.notify_all()
            return ok

    def await_room(self, n: int = 1, timeout: float | None = None) -> bool:
        """Block until ``n`` inserts would fit, without counting them (for a single inserter that then takes a
        chunk: samples only make room, so the room is still there when it inserts)."""
        with self._cond:
            ok, waited = self._wait(lambda: self.can_insert(n), timeout)
            self.insert_wait_seconds += waited
            return ok

    def await_sample(self, n: int = 1, timeout: float | None = None) -> bool:
        """Block until ``n`` samples are allowed, then count them. False if ``timeout`` seconds passed first."""
        with self._cond:
            ok, waited = self._wait(lambda: self.can_sample(n), timeout)
            self.sample_wait_seconds += waited
            if ok:
                self.samples += n
                self._cond.notify_all()
            return ok

    def count_sample(self) -> bool:
        """Count one sample without waiting (the learner's last updates after the final insert)."""
        with self._cond:
            self.samples += 1
            self._cond.notify_all()
            return True

    def close(self) -> None:
        """Wake every waiter with :class:`LimiterClosed` (shutdown)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def measured_ratio(self) -> float:
        """Samples per insert after ``min_size``: the replay ratio the run got."""
        with self._cond:
            return self.samples / max(1, self.inserts - self.min_size)

    def stats(self) -> dict[str, float]:
        with self._cond:
            return {"inserts": self.inserts, "samples": self.samples, "diff": self._diff() - self.offset,
                    "insert_wait_seconds": self.insert_wait_seconds, "sample_wait_seconds": self.sample_wait_seconds}
