"""Instruments for gradients through time (Chapter 5).

Three questions the chapter asks, one function each:

* how fast does the gradient of a loss at the last step shrink or grow as it flows back
  to earlier hidden states (:func:`hidden_state_gradient_norms`, :func:`fit_log_slope`),
  and how does the scale of the recurrent weights move it (:func:`scale_recurrent_weights`);
* what do clipping by global norm and clipping by value do to the *direction* of an
  update (:func:`compare_clipping`);
* how stable was a training run (:func:`loss_spikes`, :func:`stability_summary`).

Everything here measures; nothing trains. Layout is time-major throughout: ``(T, B, features)``.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from ..networks import RecurrentQNetwork

__all__ = ["hidden_state_gradient_norms", "fit_log_slope", "scale_recurrent_weights",
           "ClipComparison", "compare_clipping", "loss_spikes", "stability_summary"]

State = Union[Tensor, tuple[Tensor, Tensor]]
StepFunction = Callable[[Tensor, Tensor], Tensor]  # a scratch cell: step(x_t (B, D), h (B, H)) -> h
_Step = Callable[[Tensor, tuple[Tensor, ...]], tuple[Tensor, ...]]  # every core, normalised to tuples of state parts
_MODULES = (nn.RNN, nn.GRU, nn.LSTM)
_CELLS = (nn.RNNCell, nn.GRUCell, nn.LSTMCell)
_ALLOWED = ("nn.RNN/nn.GRU/nn.LSTM (one layer, time-major), nn.RNNCell/nn.GRUCell/nn.LSTMCell, "
            "a RecurrentQNetwork, or a callable step(x_t, h) -> h with an explicit initial state")


def _as_tuple(state: State) -> tuple[Tensor, ...]:
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


def _stepper(core: Any) -> tuple[_Step, int | None, int | None, bool]:
    """Return ``(step, input_size, hidden_size, is_lstm)``; ``step`` maps ``(x_t (B, D), state) -> state``."""
    if isinstance(core, _MODULES):
        if core.num_layers != 1 or core.bidirectional or core.batch_first:
            raise ValueError(f"{type(core).__name__} must have one layer, one direction and batch_first=False, got "
                             f"num_layers={core.num_layers}, bidirectional={core.bidirectional}, "
                             f"batch_first={core.batch_first}")
        is_lstm = isinstance(core, nn.LSTM)

        def step(x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
            if is_lstm:
                _, (h, c) = core(x.unsqueeze(0), (state[0].unsqueeze(0), state[1].unsqueeze(0)))
                return h[0], c[0]
            _, h = core(x.unsqueeze(0), state[0].unsqueeze(0))
            return (h[0],)

        return step, core.input_size, core.hidden_size, is_lstm
    if isinstance(core, _CELLS):
        is_lstm = isinstance(core, nn.LSTMCell)

        def step(x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
            return tuple(core(x, state)) if is_lstm else (core(x, state[0]),)

        return step, core.input_size, core.hidden_size, is_lstm
    if callable(core):  # a scratch cell: step(x_t, h) -> h, also an nn.Module with that forward
        return (lambda x, state: (core(x, state[0]),)), None, None, False
    raise TypeError(f"cannot unroll {type(core).__name__}; allowed: {_ALLOWED}")


def hidden_state_gradient_norms(
    core: nn.Module | StepFunction,
    inputs: Tensor,
    state: State | None = None,
    loss_fn: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    r"""Norm of the gradient of a last-step loss with respect to every earlier hidden state (Chapter 5).

    The core is unrolled one step at a time, ``s_t = f(x_t, s_{t-1})`` for ``t = 1..T``,
    keeping every state in the graph (``retain_grad``); then ``L = loss_fn(h_T)`` is
    back-propagated once. Entry ``k`` of the result is

    .. math:: \big\| \partial L / \partial s_{T-k} \big\|, \qquad k = 0, \dots, T,

    the gradient that reaches the memory ``k`` steps before the loss (``k = T`` is the
    initial state). By the chain rule it is a product of ``k`` step Jacobians
    ``∂s_t/∂s_{t-1}``: it shrinks geometrically when they are contractions (vanishing)
    and grows when they expand (exploding) (Bengio et al., 1994; Pascanu et al., 2013).
    For an LSTM the state is the pair ``(h, c)`` and the norm is taken over both.

    Args:
        core: what to unroll: ``nn.RNN``/``nn.GRU``/``nn.LSTM`` (one layer, time-major), a
            cell (``nn.RNNCell``/``nn.GRUCell``/``nn.LSTMCell``), a
            :class:`~rdqn_core.networks.RecurrentQNetwork` (its encoder is applied to
            ``inputs``, read as observations, with no previous action), or a callable
            ``step(x_t, h) -> h`` on ``(B, D)`` and ``(B, H)`` tensors (then ``state`` is required).
        inputs: ``(T, B, D)`` inputs, time-major, ``T >= 1``.
        state: initial state ``(B, H)`` (a pair for an LSTM); zeros when ``None``. The
            caller's tensors are not modified.
        loss_fn: maps the last hidden output ``h_T`` of shape ``(B, H)`` to a scalar;
            default ``h_T.sum()``, whose gradient at lag 0 is all ones.

    Returns:
        ``(T + 1,)`` float64 tensor on the CPU, lag 0 (the last state) first.

    Raises:
        TypeError: for a core that cannot be unrolled.
        ValueError: for inputs that are not ``(T, B, D)`` with the core's ``D``, a bad
            initial state, or a loss that is not a finite scalar.
    """
    if isinstance(core, RecurrentQNetwork):
        if not isinstance(inputs, Tensor) or inputs.dim() != 3 or inputs.shape[-1] != core.obs_dim:
            got = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
            raise ValueError(f"inputs for a RecurrentQNetwork are observations (T, B, {core.obs_dim}), got {got}")
        inputs = core.encode(inputs)  # (T, B, features)
        core = core.rnn
    step, input_size, hidden_size, is_lstm = _stepper(core)
    if not isinstance(inputs, Tensor) or inputs.dim() != 3 or inputs.shape[0] < 1:
        got = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a (T, B, D) tensor with T >= 1 (time, batch, features), got {got}")
    T, B, D = inputs.shape
    if input_size is not None and D != input_size:
        raise ValueError(f"inputs have {D} features but the core expects input_size={input_size}")
    if state is None:
        if hidden_size is None:
            raise ValueError("a callable step needs an explicit initial state of shape (B, H)")
        zeros = torch.zeros(B, hidden_size, dtype=inputs.dtype, device=inputs.device)
        state = (zeros, zeros.clone()) if is_lstm else zeros
    parts = _as_tuple(state)
    if len(parts) != (2 if is_lstm else 1) or any(not isinstance(p, Tensor) or p.dim() != 2 or p.shape[0] != B
                                                 or (hidden_size is not None and p.shape[1] != hidden_size)
                                                 for p in parts):
        shapes = [tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__ for p in parts]
        want = f"({B}, {hidden_size if hidden_size is not None else 'H'})"
        raise ValueError(f"initial state must be {'a pair (h, c), each ' if is_lstm else 'one tensor '}{want}; "
                         f"got {shapes}")

    states = [tuple(p.detach().clone().requires_grad_(True) for p in parts)]  # s_0 is a leaf
    with torch.enable_grad():
        for t in range(T):
            # The clones are the next step's inputs: their .grad is the partial derivative with
            # respect to (h, c) as separate inputs. Without them an LSTMCell's c would also
            # collect the gradient that reaches it through h (h = o * tanh(c) inside the cell).
            new = tuple(part.clone() for part in step(inputs[t], states[-1]))
            for part in new:
                part.retain_grad()  # easy to overlook: non-leaf tensors drop .grad unless asked
            states.append(new)
        loss = (loss_fn or torch.sum)(states[-1][0])
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError(f"loss_fn must return a scalar tensor, got {getattr(loss, 'shape', type(loss).__name__)}")
        if not torch.isfinite(loss):
            raise ValueError(f"loss_fn returned {loss.item()}; gradients would be meaningless")
        loss.reshape(()).backward()

    norms = []
    for parts_t in reversed(states):  # lag 0 = s_T first
        squared = sum(float((p.grad.double() ** 2).sum()) for p in parts_t if p.grad is not None)
        norms.append(math.sqrt(squared))
    return torch.tensor(norms, dtype=torch.float64)


def fit_log_slope(norms: Tensor | Sequence[float] | np.ndarray, start: int = 0) -> float:
    """Least-squares slope of ``log10(norms[k])`` against the lag ``k``, in decades per step (Chapter 5).

    A slope of ``-0.1`` means the gradient loses a factor 10 every 10 steps; positive
    slopes mean it grows. ``start`` skips the first lags (the transient right at the loss).

    Raises:
        ValueError: if fewer than two lags remain, or a norm is zero, negative or not finite
            (shorten the lag range, or measure in float64, instead of fitting ``log(0)``).
    """
    values = np.asarray(norms.detach().cpu() if isinstance(norms, Tensor) else norms, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"norms must be one-dimensional (one norm per lag), got shape {values.shape}")
    if not 0 <= start <= len(values) - 2:
        raise ValueError(f"need at least two lags from start={start}; got {len(values)} norms")
    values = values[start:]
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("norms must be finite and positive to take log10; got min "
                         f"{np.nanmin(values):.3g}, max {np.nanmax(values):.3g}")
    lags = np.arange(start, start + len(values), dtype=np.float64)
    return float(np.polyfit(lags, np.log10(values), 1)[0])


def scale_recurrent_weights(core: nn.Module, factor: float) -> nn.Module:
    """A deep copy of ``core`` with every recurrent matrix ``weight_hh*`` multiplied by ``factor`` (Chapter 5).

    Works for ``nn.RNN``/``GRU``/``LSTM``, their cells and a ``RecurrentQNetwork``; for
    gated cells all gates' recurrent weights are scaled together. The original is untouched.
    """
    if not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
        raise ValueError(f"factor must be a finite positive number, got {factor!r}")
    if not isinstance(core, nn.Module):
        raise TypeError(f"core must be an nn.Module, got {type(core).__name__}")
    scaled = copy.deepcopy(core)
    found = False
    with torch.no_grad():
        for name, parameter in scaled.named_parameters():
            if name.split(".")[-1].startswith("weight_hh"):
                parameter.mul_(factor)
                found = True
    if not found:
        raise ValueError(f"{type(core).__name__} has no recurrent weights (no parameter named weight_hh*)")
    return scaled


class ClipComparison(NamedTuple):
    """What the two clipping rules do to one gradient (see :func:`compare_clipping`)."""

    total_norm: float  # global L2 norm before clipping
    norm_clipped_norm: float  # global norm after clip_grad_norm_
    value_clipped_norm: float  # global norm after clip_grad_value_
    cosine_norm: float  # cosine(original, clipped by norm): 1 whatever the threshold
    cosine_value: float  # cosine(original, clipped by value): below 1 once some coordinates are cut
    fraction_value_clipped: float  # share of coordinates that clip_grad_value_ changed


def compare_clipping(grads: Tensor | Iterable[Tensor], max_norm: float, clip_value: float) -> ClipComparison:
    """Clip copies of a gradient by global norm and by value, and compare them with the original (Chapter 5).

    The copies go through ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_`` themselves.
    Clipping by global norm multiplies *every* coordinate by ``min(1, max_norm / ||g||)``:
    the update gets shorter but keeps its direction. Clipping by value cuts each
    coordinate to ``[-clip_value, clip_value]`` separately: large coordinates lose more
    than small ones, so the direction turns (towards the sign vector).

    Args:
        grads: one gradient tensor or several (e.g. ``[p.grad for p in net.parameters()]``);
            they are treated as one long vector and never modified.
        max_norm: threshold of ``clip_grad_norm_``, ``> 0``.
        clip_value: threshold of ``clip_grad_value_``, ``> 0``.
    """
    tensors = [grads] if isinstance(grads, Tensor) else [g for g in grads if g is not None]
    if not tensors or any(not isinstance(g, Tensor) for g in tensors):
        raise ValueError("grads must be a tensor or a non-empty iterable of tensors")
    for name, value in (("max_norm", max_norm), ("clip_value", clip_value)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    original = torch.cat([g.detach().reshape(-1).double() for g in tensors])
    if not torch.isfinite(original).all():
        raise ValueError("grads contain NaN or inf; there is no direction to compare")
    if not original.any():
        raise ValueError("grads are all zero; there is no direction to compare")

    def clipped(clip: Callable[..., Any], threshold: float) -> Tensor:
        holders = []
        for g in tensors:
            holder = torch.zeros_like(g, dtype=torch.float64)
            holder.grad = g.detach().double().clone()
            holders.append(holder)
        clip(holders, threshold)
        return torch.cat([h.grad.reshape(-1) for h in holders])

    by_norm = clipped(nn.utils.clip_grad_norm_, float(max_norm))
    by_value = clipped(nn.utils.clip_grad_value_, float(clip_value))

    def cosine(a: Tensor, b: Tensor) -> float:
        return float(torch.dot(a, b) / (a.norm() * b.norm()))

    return ClipComparison(
        total_norm=float(original.norm()),
        norm_clipped_norm=float(by_norm.norm()),
        value_clipped_norm=float(by_value.norm()),
        cosine_norm=cosine(original, by_norm),
        cosine_value=cosine(original, by_value),
        fraction_value_clipped=float((by_value != original).double().mean()),
    )


def loss_spikes(losses: Sequence[float] | np.ndarray, factor: float = 10.0, window: int = 50) -> int:
    """Count updates whose loss exceeds ``factor`` times the median of the ``window`` updates before it (Chapter 5).

    A running median, not the run's median, so that a loss that grows slowly (Q-values
    growing with the return) is not mistaken for a spike. The first update has no past
    and is never counted.
    """
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"losses must be one-dimensional (one per update), got shape {values.shape}")
    if factor <= 1:
        raise ValueError(f"factor must be > 1, got {factor}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    count = 0
    for i in range(1, len(values)):
        if values[i] > factor * np.median(values[max(0, i - window):i]):
            count += 1
    return count


def stability_summary(history: Mapping[str, Sequence[float]], spike_factor: float = 10.0, window: int = 50,
                      tail: float = 0.25) -> dict[str, float]:
    """Summarise the stability of a run from its ``TrainResult.history`` or a partial one (Chapter 5).

    Returns a dict with ``updates``, ``loss_spikes`` (see :func:`loss_spikes`),
    ``max_grad_norm`` and ``median_grad_norm`` (before clipping), ``clip_fraction``
    (share of updates that were clipped), ``final_td_loss`` and ``final_grad_norm``
    (means over the last ``tail`` share of updates) and ``final_eval_return`` (the
    last greedy evaluation; NaN if there was none).
    """
    if not 0 < tail <= 1:
        raise ValueError(f"tail must be in (0, 1], got {tail}")
    missing = {"losses/td_loss", "losses/grad_norm"} - set(history)
    if missing:
        raise ValueError(f"history lacks {sorted(missing)}; pass TrainResult.history from a run with updates")
    losses = np.asarray(history["losses/td_loss"], dtype=np.float64)
    norms = np.asarray(history["losses/grad_norm"], dtype=np.float64)
    if len(losses) == 0:
        raise ValueError("history has no updates (did the run stop before learning_starts?)")
    clipped = np.asarray(history.get("losses/clipped", np.zeros(len(losses))), dtype=np.float64)
    last = max(1, int(round(tail * len(losses))))
    evals = history.get("eval/mean_return", [])
    return {
        "updates": int(len(losses)),
        "loss_spikes": loss_spikes(losses, spike_factor, window),
        "max_grad_norm": float(np.max(norms)),
        "median_grad_norm": float(np.median(norms)),
        "clip_fraction": float(np.mean(clipped)) if len(clipped) else 0.0,
        "final_td_loss": float(np.mean(losses[-last:])),
        "final_grad_norm": float(np.mean(norms[-last:])),
        "final_eval_return": float(evals[-1]) if len(evals) else float("nan"),
    }
