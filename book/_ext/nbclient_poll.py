"""Sphinx extension: keep the book build from stalling after a widget cell.

Upstream bug (jupyter/nbclient#312, open; the same stall as nbconvert#2029 and papermill#723):
while nbclient waits for a cell's ``execute_reply`` it awaits *one* poll of the shell socket,
as long as the cell timeout. When an ipywidgets Output widget (what ``interact`` draws into)
receives output, nbclient sends the widget's new state back to the kernel on that same
zmq.asyncio socket, and a send can consume the socket's edge-triggered "readable" signal. A
reply that arrived meanwhile is then noticed only when the poll times out (its last check
finds it), so the build does not fail: it waits out the cell timeout, 600 s here, before the
next cell starts. It happens when the CPU is busy. Measured on this project's 2-core machine
(2026-12-07) with two training runs beside it: a notebook of 12 ``interact`` cells, executed 5
times with nbclient as it is and 5 times with the slices below, interleaved, with a 20 s cell
timeout, took 3.3-43.5 s per run as it is (five stalls of 20 s each, in three of the runs) and
3.6-4.7 s with the slices (no stall). The book's chapters 1, 2, 3, 5, 6, 7, 8 and 9 each have
such a cell; the first stall seen here held ``jupyter execute`` on chapter 1 for minutes.

The fix here: wait for shell and iopub messages in slices of at most ``SLICE`` seconds. Every
new poll checks the socket before it waits, so a missed signal costs at most one slice, and a
message is still returned as soon as it is seen; ``Empty`` is raised only when the whole
timeout has passed, as before. nbval, which runs the notebooks under ``make test``, uses
jupyter_client's blocking client (``zmq_poll``, level-triggered) and does not stall.
"""
from __future__ import annotations

import time
from queue import Empty

from jupyter_client.channels import AsyncZMQSocketChannel

SLICE = 0.5  # seconds; the longest a missed wake-up can delay a cell

_original_get_msg = AsyncZMQSocketChannel.get_msg


async def get_msg_in_slices(self, timeout: float | None = None):
    """``AsyncZMQSocketChannel.get_msg`` with the wait cut into polls of at most ``SLICE`` s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        step = SLICE if remaining is None else min(SLICE, remaining)
        try:
            return await _original_get_msg(self, timeout=step)
        except Empty:
            if remaining is not None and remaining <= SLICE:
                raise


def setup(app):
    AsyncZMQSocketChannel.get_msg = get_msg_in_slices
    return {"parallel_read_safe": True, "parallel_write_safe": True}
