"""Supervised memory tasks for recurrent networks (Chapter 2).

:func:`recall_task` generates the classic "remember a cue across a delay" problem: a
recurrent network sees a symbol, then ``delay`` steps that say nothing about it, then a
query, and must answer with the symbol it saw first. Nothing in the last input tells the
answer, so a network can only solve the task by carrying the cue in its hidden state.

This module depends on nothing else in the package (NumPy and PyTorch only).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["recall_task", "recall_task_layout"]


def recall_task_layout(n_symbols: int) -> dict[str, int | slice]:
    """Where each kind of information sits in the feature axis of :func:`recall_task`.

    Returns ``{"symbols": slice(0, n_symbols), "cue_flag": n_symbols,
    "query_flag": n_symbols + 1, "n_features": n_symbols + 2}``.
    """
    _check_int("n_symbols", n_symbols, minimum=2)
    return {
        "symbols": slice(0, n_symbols),
        "cue_flag": n_symbols,
        "query_flag": n_symbols + 1,
        "n_features": n_symbols + 2,
    }


def recall_task(
    batch_size: int,
    delay: int,
    n_symbols: int,
    rng: np.random.Generator,
    *,
    distractors: bool = False,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor]:
    """A batch of the delayed-recall task: see a cue, wait ``delay`` steps, name the cue.

    Each sequence has ``T = delay + 2`` steps and ``F = n_symbols + 2`` features
    (see :func:`recall_task_layout`)::

        t = 0              one-hot cue symbol in features [0, n_symbols), cue flag = 1
        t = 1 .. delay     blank (all zeros); with ``distractors=True`` a one-hot symbol
                           drawn uniformly and independently of the cue, no flag
        t = delay + 1      query flag = 1, nothing else: "now answer"

    The answer is read from the network's output at the last step (the query).

    Args:
        batch_size: number of independent sequences ``B`` (>= 1).
        delay: number of steps between the cue and the query (>= 0). ``delay=0`` puts
            the query right after the cue.
        n_symbols: size of the cue alphabet (>= 2); chance accuracy is ``1 / n_symbols``.
        rng: a NumPy generator, e.g. the one returned by ``seed_everything``; all
            randomness (cues, distractors) is drawn from it, so a seeded generator
            gives the same batch on every machine and device.
        distractors: fill the delay with random symbols instead of blanks. They carry
            no information about the cue, but a network must learn to ignore them.
        device: where the returned tensors live.

    Returns:
        ``inputs`` float32 tensor of shape ``(T, B, F)`` (time-major, like ``nn.LSTM``)
        and ``targets`` int64 tensor of shape ``(B,)`` with the cue symbols.

    Raises:
        ValueError: ``batch_size < 1``, ``delay < 0`` or ``n_symbols < 2``.
        TypeError: a size that is not an integer, or ``rng`` not a ``numpy.random.Generator``.
    """
    _check_int("batch_size", batch_size, minimum=1)
    _check_int("delay", delay, minimum=0)
    layout = recall_task_layout(n_symbols)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0) or the one "
            f"seed_everything returns), got {type(rng).__name__}"
        )
    steps, batch = delay + 2, np.arange(batch_size)
    inputs = np.zeros((steps, batch_size, layout["n_features"]), dtype=np.float32)  # (T, B, F)
    targets = rng.integers(n_symbols, size=batch_size)
    inputs[0, batch, targets] = 1.0
    inputs[0, :, layout["cue_flag"]] = 1.0
    if distractors and delay > 0:
        # Drawn after the cues and independently of them: the delay says nothing about the answer.
        symbols = rng.integers(n_symbols, size=(delay, batch_size))  # (delay, B)
        # Easy to get wrong: index time with an array, not a slice. A slice next to the two index
        # arrays would broadcast to (delay, delay, B) and write every step's symbol at every step.
        times = np.arange(1, delay + 1)[:, None]  # (delay, 1)
        inputs[times, batch[None, :], symbols] = 1.0
    inputs[-1, :, layout["query_flag"]] = 1.0
    return (
        torch.as_tensor(inputs, device=device),
        torch.as_tensor(targets, dtype=torch.long, device=device),
    )


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
