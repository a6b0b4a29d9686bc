"""Instruments for looking inside a DRQN (Chapter 4).

Four questions the chapter asks, one function each:

* what does the agent see, remember and value along one episode
  (:func:`trace_episode`), and does its memory hold what the observation lacks
  (:func:`linear_probe_r2`, e.g. the velocities of velocity-masked CartPole);
* how far are the recurrent states stored in the replay from the states the *current*
  weights would compute, and how much of that does burn-in repair
  (:func:`hidden_state_staleness`, with R2D2's Q-value discrepancy :func:`q_discrepancy`);
* a replay filled by a given network, to measure those states on
  (:func:`collect_experience`).

Everything here measures; nothing trains: the functions run networks without
gradients and never change their weights (nor their observation statistics).
Layout is time-major throughout: ``(T, B, features)``. This module sits below the
agent and the trainer and imports neither.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from ..envs import check_spaces, make_env, make_vector_env
from ..replay import SequenceReplay
from ..rollout import Rollout
from ..types import INITIAL_STATES, RecurrentState

__all__ = ["q_discrepancy", "collect_experience", "StalenessReport", "hidden_state_staleness", "trace_episode",
           "linear_probe_r2"]


# --------------------------------------------------------------------------------------------------- helpers
def _device_of(network: nn.Module) -> torch.device:
    parameter = next(network.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _check_network(network: Any, need_recurrent: bool) -> None:
    if not isinstance(network, nn.Module) or not hasattr(network, "initial_state"):
        raise TypeError(f"network must be an rdqn_core Q-network (MLPQNetwork or RecurrentQNetwork, e.g. "
                        f"agent.online), got {type(network).__name__}")
    if need_recurrent and not getattr(network, "is_recurrent", False):
        raise ValueError(f"this measurement needs a recurrent network (RecurrentQNetwork); got "
                         f"{type(network).__name__}, which has no memory")


def _state_vector(state: RecurrentState) -> Tensor:
    """``(B, hidden)`` for a GRU/RNN state, ``(B, 2 * hidden)`` = ``[h, c]`` for an LSTM state."""
    parts = [state.h[0]] + ([state.c[0]] if state.c is not None else [])
    return torch.cat(parts, dim=-1)


def _where_state(keep_new: Tensor, new: RecurrentState, old: RecurrentState) -> RecurrentState:
    """Per environment: ``new`` where ``keep_new`` (B,) is true, else ``old``."""
    mask = keep_new.view(1, -1, 1)
    c = None if new.c is None else torch.where(mask, new.c, old.c)
    return RecurrentState(torch.where(mask, new.h, old.h), c)


def q_discrepancy(q: Tensor | np.ndarray, q_reference: Tensor | np.ndarray, eps: float = 1e-8) -> np.ndarray:
    r"""R2D2's Q-value discrepancy, per step: :math:`\Delta Q = \lVert q - q_{\text{ref}} \rVert_2 / |\max_a q_{\text{ref}}|`.

    Kapturowski et al. (2019) compare the Q-values computed from an approximate state
    (stored, zeroed, or burnt in) with those from the state the current weights compute
    over the whole history. 0 means identical; 0.1 means the Q-vector is off by a tenth of
    the largest action value.

    Args:
        q, q_reference: arrays of the same shape ``(..., n_actions)``.
        eps: floor of the denominator, so a reference with all values 0 does not divide by 0.

    Returns:
        numpy array of shape ``(...)``.
    """
    q = torch.as_tensor(q, dtype=torch.float64)
    q_reference = torch.as_tensor(q_reference, dtype=torch.float64)
    if q.shape != q_reference.shape or q.dim() < 1:
        raise ValueError(f"q and q_reference must have the same shape (..., n_actions), got {tuple(q.shape)} "
                         f"and {tuple(q_reference.shape)}")
    scale = q_reference.max(dim=-1).values.abs().clamp(min=eps)
    return (torch.linalg.vector_norm(q - q_reference, dim=-1) / scale).numpy()


# --------------------------------------------------------------------------------------- collect experience
@torch.no_grad()
def collect_experience(network: nn.Module, env: str | Callable[[], gym.Env], replay: SequenceReplay, steps: int,
                       epsilon: float = 0.0, seed: int = 0) -> list[float]:
    """Act epsilon-greedily with ``network`` in ``replay.num_envs`` environments and store every step in ``replay``.

    The memory is carried per environment and reset where an episode begins, exactly as
    the trainer does, and the state each step was acted on is stored with it. So right
    after this call the stored states are precisely what the current weights compute:
    :func:`hidden_state_staleness` measures 0 until the weights change.

    Args:
        network: the Q-network that acts (not trained; its observation statistics are not updated).
        env: environment id or spec, as for :func:`~rdqn_core.envs.make_env`.
        replay: where to store the steps; its ``obs_dim`` and ``hidden_size`` must match the network.
        steps: environment steps in total (rounded up to a multiple of ``replay.num_envs``).
        epsilon: probability of a uniformly random action.
        seed: seeds the environments (``seed + i`` for environment ``i``) and the exploration.

    Returns:
        The returns of the episodes that ended during collection.
    """
    _check_network(network, need_recurrent=False)
    if not isinstance(replay, SequenceReplay):
        raise TypeError(f"replay must be a SequenceReplay, got {type(replay).__name__}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    if replay.obs_dim != network.obs_dim:
        raise ValueError(f"replay stores observations of size {replay.obs_dim}, the network reads {network.obs_dim}")
    recurrent = getattr(network, "is_recurrent", False)
    if recurrent and replay.hidden_size not in (0, network.hidden_size):
        raise ValueError(f"replay stores states of size {replay.hidden_size}, the network's are {network.hidden_size}")
    B = replay.num_envs
    rng = np.random.default_rng(seed)
    envs = make_vector_env(env, B)
    returns: list[float] = []
    try:
        check_spaces(envs.single_observation_space, envs.single_action_space)
        rollout = Rollout(envs, network, seed=[seed + i for i in range(B)])
        for _ in range(math.ceil(steps / B)):
            step = rollout.step(epsilon, rng)  # the same loop the trainer runs
            replay.add(step.obs, step.actions, step.rewards, step.terminated, step.truncated, step.next_obs,
                       step.prev_actions, step.state)
            returns += [episode_return for _, episode_return, _ in step.finished]
    finally:
        envs.close()
    return returns


# ----------------------------------------------------------------------------------------------- staleness
@dataclass(frozen=True)
class StalenessReport:
    """What :func:`hidden_state_staleness` measured, over ``windows`` windows that start mid-episode.

    Attributes:
        windows: number of windows measured.
        steps_in_episode: (windows,) index in its episode of each window's first trained step.
        stored_state_gaps: (windows,) relative gap ``|s_stored - s_now| / |s_now|`` between the state
            stored in the replay and the state the current weights compute over the whole episode
            so far (``s = [h, c]`` for an LSTM).
        strategies: one row per (initial_state, burn_in): ``delta_q_first`` (mean Delta-Q on the
            first trained step), ``delta_q_mean`` (over all trained steps), ``state_gap_first``
            (relative state gap at the first trained step) and ``delta_q_by_step`` (mean Delta-Q
            at each trained step).
    """

    windows: int
    steps_in_episode: np.ndarray
    stored_state_gaps: np.ndarray
    strategies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stored_state_gap(self) -> float:
        """Mean relative gap between stored and recomputed states at the windows' first trained step."""
        return float(self.stored_state_gaps.mean())

    def row(self, initial_state: str, burn_in: int) -> dict[str, Any]:
        """The strategy row for ``initial_state`` ('zero' or 'stored') and ``burn_in`` steps."""
        for r in self.strategies:
            if r["initial_state"] == initial_state and r["burn_in"] == burn_in:
                return r
        have = [(r["initial_state"], r["burn_in"]) for r in self.strategies]
        raise KeyError(f"no row for initial_state={initial_state!r}, burn_in={burn_in}; measured: {have}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready numbers (per-window arrays summarized)."""
        return {
            "windows": self.windows,
            "stored_state_gap": round(self.stored_state_gap, 6),
            "strategies": [{k: (np.round(v, 6).tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}
                           for r in self.strategies],
        }


def _sample_mid_episode_rows(replay: SequenceReplay, windows: int, seq_len: int,
                             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(env, row) of transitions that are not an episode's first step and whose whole episode prefix is stored."""
    num_envs, ring = replay.num_envs, replay.ring
    env = np.repeat(np.arange(num_envs), ring)
    row = np.tile(np.arange(ring), num_envs)
    step = replay.step_in_episode[env, row]
    ok = replay.has_transition[env, row] & (step >= 1) & (step < ring - seq_len - 2)
    ok &= row != (replay.pos[env] - 1) % ring  # the newest row of a running episode has no next observation
    start = (row - step) % ring
    ok &= (replay.episode_id[env, start] == replay.episode_id[env, row]) & (replay.step_in_episode[env, start] == 0)
    candidates = np.flatnonzero(ok)
    if candidates.size == 0:
        raise ValueError("the replay holds no window that starts mid-episode with its whole episode still stored; "
                         "collect more steps first (e.g. collect_experience)")
    chosen = rng.choice(candidates, size=min(windows, candidates.size), replace=False)
    return env[chosen], row[chosen]


@torch.no_grad()
def hidden_state_staleness(network: nn.Module, replay: SequenceReplay, burn_ins: tuple[int, ...] = (0, 4),
                           initial_states: tuple[str, ...] = INITIAL_STATES, seq_len: int | None = None,
                           windows: int = 128, seed: int = 0) -> StalenessReport:
    """How stale are the states stored in ``replay`` for ``network``'s current weights, and what does burn-in repair?

    For ``windows`` replayed windows that start mid-episode (at an episode start every
    strategy is exact), this recomputes the "true" state with the current weights by
    running the network over the episode from its first step (the reference
    Kapturowski et al., 2019, use), then measures:

    * the relative gap between the stored state and that recomputed state, and
    * for every ``initial_state`` in ``initial_states`` and burn-in length in ``burn_ins``: start
      the network ``burn_in`` steps before the window from that state (zeros, or the state
      stored at that earlier step), run through the burn-in and ``seq_len`` trained steps,
      and compare with the reference: the state gap at the first trained step and
      :func:`q_discrepancy` on the trained steps.

    A burn-in never reaches back past the episode start (as in the replay); there the
    zero state is exact, so long burn-ins of early windows are exact too.

    Args:
        network: a :class:`~rdqn_core.networks.RecurrentQNetwork` with the weights to measure against.
        replay: a :class:`~rdqn_core.replay.SequenceReplay` that stored states (``hidden_size > 0``).
        burn_ins: burn-in lengths to compare (each ``>= 0``).
        initial_states: which starts to compare, from ``('zero', 'stored')``.
        seq_len: trained steps per window (default: ``replay.seq_len``).
        windows: number of windows to sample (fewer if the replay holds fewer).
        seed: seeds the choice of windows.

    Returns:
        A :class:`StalenessReport`. With unchanged weights since the states were stored, the
        stored-state gap and the 'stored' rows are 0 up to float rounding.
    """
    _check_network(network, need_recurrent=True)
    if not isinstance(replay, SequenceReplay):
        raise TypeError(f"replay must be a SequenceReplay (a SequenceBatch has no episode history to recompute "
                        f"states from), got {type(replay).__name__}")
    if replay.state_h is None:
        raise ValueError("this replay stores no recurrent states (hidden_size=0); build it with the network's "
                         "hidden_size to measure staleness")
    if replay.hidden_size != network.hidden_size or (replay.state_c is not None) != (network.cell == "lstm"):
        raise ValueError(f"replay states (hidden_size={replay.hidden_size}, lstm={replay.state_c is not None}) do not "
                         f"match the network (hidden_size={network.hidden_size}, cell={network.cell!r})")
    if replay.obs_dim != network.obs_dim:
        raise ValueError(f"replay stores observations of size {replay.obs_dim}, the network reads {network.obs_dim}")
    burn_ins = tuple(int(b) for b in burn_ins)
    if not burn_ins or min(burn_ins) < 0:
        raise ValueError(f"burn_ins must be a non-empty tuple of lengths >= 0, got {burn_ins}")
    unknown = [s for s in initial_states if s not in INITIAL_STATES]
    if not initial_states or unknown:
        raise ValueError(f"initial_states must be taken from {INITIAL_STATES}, got {initial_states}")
    seq_len = replay.seq_len if seq_len is None else int(seq_len)
    if seq_len < 1 or windows < 1:
        raise ValueError(f"seq_len and windows must be >= 1, got {seq_len} and {windows}")

    device = _device_of(network)
    rng = np.random.default_rng(seed)
    env, row = _sample_mid_episode_rows(replay, windows, seq_len, rng)
    N, ring = len(env), replay.ring
    step = replay.step_in_episode[env, row]  # (N,) position of the first trained step in its episode
    length = int(step.max()) + seq_len  # prefix positions 0 .. step + seq_len - 1
    offsets = np.arange(length)
    rows = (row[None, :] - step[None, :] + offsets[:, None]) % ring  # (length, N), from each episode's start
    envs = env[None, :]
    in_episode = ((replay.episode_id[envs, rows] == replay.episode_id[env, row][None, :])
                  & (replay.step_in_episode[envs, rows] == offsets[:, None]))
    obs = torch.as_tensor(replay.obs[envs, rows] * in_episode[..., None], device=device)  # (length, N, obs_dim)
    prev = torch.as_tensor(np.where(in_episode, replay.prev_actions[envs, rows], -1), device=device)  # (length, N)
    starts = torch.as_tensor(offsets == 0, dtype=torch.float32, device=device)[:, None].expand(length, N)

    # Reference: step by step from the episode start, as the actor ran; keep the state entering every step.
    state = network.initial_state(N, device)
    q_true, state_in = [], []
    for t in range(length):
        state_in.append(_state_vector(state.masked(1.0 - starts[t])))
        q_t, state = network(obs[t : t + 1], state, starts[t : t + 1], prev[t : t + 1])
        q_true.append(q_t[0])
    q_true_t = torch.stack(q_true)  # (length, N, A)
    state_in_t = torch.stack(state_in)  # (length, N, S)
    cols = torch.arange(N, device=device)
    step_t = torch.as_tensor(step, device=device)

    def relative_gap(approx: Tensor, exact: Tensor) -> np.ndarray:
        return (torch.linalg.vector_norm(approx - exact, dim=-1)
                / torch.linalg.vector_norm(exact, dim=-1).clamp(min=1e-8)).cpu().numpy()

    def stored_at(position: np.ndarray) -> RecurrentState:
        r = (row - step + position) % ring
        h = torch.as_tensor(replay.state_h[env, r], device=device).unsqueeze(0)
        c = torch.as_tensor(replay.state_c[env, r], device=device).unsqueeze(0) if replay.state_c is not None else None
        return RecurrentState(h, c)

    stored_gaps = relative_gap(_state_vector(stored_at(step)), state_in_t[step_t, cols])
    # trained steps that exist: same episode and a real transition (the last row of an episode has none)
    trained_rows = (row[None, :] + np.arange(seq_len)[:, None]) % ring  # (seq_len, N)
    trained_ok = ((replay.episode_id[envs, trained_rows] == replay.episode_id[env, row][None, :])
                  & (replay.step_in_episode[envs, trained_rows] == step[None, :] + np.arange(seq_len)[:, None])
                  & replay.has_transition[envs, trained_rows])
    trained_ok_t = torch.as_tensor(trained_ok, device=device)

    strategies = []
    for initial in initial_states:
        for burn_in in burn_ins:
            burn = np.minimum(burn_in, step)  # (N,) burn-in stops at the episode start
            begin = step - burn  # prefix position where the core starts
            slots = int(burn.max())  # burn-in time slots actually needed (a long burn_in is cut to the prefix)
            lead = slots - burn  # slots each window waits, so that the trained steps line up
            start_state = stored_at(begin) if initial == "stored" else network.initial_state(N, device)
            state = start_state
            q_steps, first_state = [], None
            for tau in range(slots + seq_len):
                active = torch.as_tensor(tau >= lead, device=device)  # (N,)
                position = torch.as_tensor(np.clip(begin + tau - lead, 0, length - 1), device=device)
                if tau == slots:
                    first_state = _state_vector(state.masked(1.0 - starts[position, cols]))
                q_t, new_state = network(obs[position, cols][None], state, starts[position, cols][None],
                                         prev[position, cols][None])
                state = _where_state(active, new_state, state)
                if tau >= slots:
                    q_steps.append(q_t[0])
            positions = step_t[None, :] + torch.arange(seq_len, device=device)[:, None]  # (seq_len, N)
            q_ref = q_true_t[positions.clamp(max=length - 1), cols[None, :]]
            dq = torch.as_tensor(q_discrepancy(torch.stack(q_steps), q_ref))  # (seq_len, N), float64
            dq = torch.where(trained_ok_t.cpu(), dq, torch.nan).numpy()
            strategies.append(dict(
                initial_state=initial, burn_in=burn_in,
                delta_q_first=float(np.nanmean(dq[0])),
                delta_q_mean=float(np.nanmean(dq)),
                state_gap_first=float(relative_gap(first_state, state_in_t[step_t, cols]).mean()),
                delta_q_by_step=np.nanmean(dq, axis=1),
            ))
    return StalenessReport(windows=N, steps_in_episode=step, stored_state_gaps=stored_gaps, strategies=strategies)


# ------------------------------------------------------------------------------------------------ tracing
@torch.no_grad()
def trace_episode(network: nn.Module, env: gym.Env | str | Callable[[], gym.Env], seed: int = 0,
                  epsilon: float = 0.0, max_steps: int = 10_000, initial_state: RecurrentState | None = None,
                  prev_action: int = -1, reset_memory: bool = True) -> dict[str, Any]:
    """Play one episode with ``network`` and record what it saw, remembered, valued and did.

    Memory handling is explicit, so the two classic recurrent bugs can be reproduced on
    purpose: with ``reset_memory=True`` (correct) the memory is zeroed at the first step,
    whatever ``initial_state`` holds; with ``reset_memory=False`` the episode starts from
    ``initial_state`` and ``prev_action`` (e.g. the last episode's final state: the
    "no reset at episode start" bug, or a training environment's state: the "evaluation
    continues a training memory" bug).

    Args:
        network: a Q-network from :mod:`rdqn_core.networks` (recurrent or not).
        env: a ``gymnasium.Env`` (used and left open) or an id/spec for :func:`~rdqn_core.envs.make_env`
            (made and closed here).
        seed: ``env.reset(seed=seed)``, and the exploration generator.
        epsilon: probability of a uniformly random action (0: greedy).
        max_steps: stop after this many steps even if the episode goes on.
        initial_state: the memory before the first step, shaped ``(1, 1, hidden)``; default zeros.
        prev_action: previous action fed with the first observation when ``reset_memory=False``
            (with a reset it is always -1: none, as at every episode start).
        reset_memory: whether the first step is marked as an episode start (memory zeroed).

    Returns:
        A dict of numpy arrays over the ``T`` steps played, with keys ``obs`` (T, obs_dim), ``hidden`` (T, hidden)
        the memory *after* reading ``obs[t]`` (absent for an MLP), ``cell`` (T, hidden) for an LSTM,
        ``q`` (T, n_actions), ``actions`` (T,), ``rewards`` (T,), ``prev_actions`` (T,),
        ``env_state`` (T, ...) the simulator's full state before each step where the environment
        exposes one (``env.unwrapped.state``, e.g. CartPole's velocities), ``q_fresh`` (T, n_actions)
        the Q-values a correctly reset memory gives on the same observations and actions; and
        ``return`` (float), ``terminated``/``truncated`` (bool), ``final_state`` and ``final_action``
        (to carry into a next episode).
    """
    _check_network(network, need_recurrent=False)
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    recurrent = getattr(network, "is_recurrent", False)
    if initial_state is not None and not recurrent:
        raise ValueError("initial_state was given but the network has no memory (an MLPQNetwork)")
    device = _device_of(network)
    own_env = not isinstance(env, gym.Env)
    environment = make_env(env) if own_env else env
    rng = np.random.default_rng(seed)
    try:
        check_spaces(environment.observation_space, environment.action_space)
        obs, _ = environment.reset(seed=seed)
        state = network.initial_state(1, device) if initial_state is None else initial_state
        record: dict[str, list] = {k: [] for k in ("obs", "hidden", "cell", "q", "actions", "rewards",
                                                   "prev_actions", "env_state")}
        # correct: a new episode has no previous action; the bug carries the last one along with the memory
        start, prev = (1.0, -1) if reset_memory else (0.0, int(prev_action))
        terminated = truncated = False
        for _ in range(max_steps):
            full_state = getattr(environment.unwrapped, "state", None)
            if full_state is not None:
                record["env_state"].append(np.array(full_state, dtype=np.float64))
            obs = np.asarray(obs, np.float32).reshape(-1)
            q, state = network(torch.as_tensor(obs, device=device).view(1, 1, -1), state,
                               torch.full((1, 1), start, device=device),
                               torch.full((1, 1), prev, dtype=torch.long, device=device))
            q = q[0, 0].cpu().numpy()
            action = int(q.argmax()) if rng.random() >= epsilon else int(rng.integers(network.n_actions))
            record["obs"].append(obs)
            record["q"].append(q)
            record["actions"].append(action)
            record["prev_actions"].append(prev)
            if state is not None:
                record["hidden"].append(state.h[0, 0].cpu().numpy())
                if state.c is not None:
                    record["cell"].append(state.c[0, 0].cpu().numpy())
            obs, reward, terminated, truncated, _ = environment.step(action)
            record["rewards"].append(float(reward))
            start, prev = 0.0, action
            if terminated or truncated:
                break
    finally:
        if own_env:
            environment.close()
    trace: dict[str, Any] = {k: np.asarray(v) for k, v in record.items() if len(v)}
    # the same observations and actions through a correctly reset memory, in one pass
    T = len(trace["obs"])
    starts = torch.zeros(T, 1, device=device)
    starts[0] = 1.0
    fresh_prev = torch.as_tensor(trace["prev_actions"], device=device).view(T, 1).clone()
    fresh_prev[0] = -1
    q_fresh, _ = network(torch.as_tensor(trace["obs"], device=device).view(T, 1, -1), None, starts, fresh_prev)
    trace["q_fresh"] = q_fresh[:, 0].cpu().numpy()
    trace.update({"return": float(np.sum(trace["rewards"])), "terminated": bool(terminated),
                  "truncated": bool(truncated), "final_state": state, "final_action": prev})
    return trace


def linear_probe_r2(features: np.ndarray, targets: np.ndarray, test_features: np.ndarray | None = None,
                    test_targets: np.ndarray | None = None, ridge: float = 1e-3) -> np.ndarray:
    """R² of a linear (ridge) read-out from ``features`` to each column of ``targets``.

    The question it answers in Chapter 4: does the memory *contain* a quantity the
    observation lacks (CartPole's velocities)? An R² near 1 means a linear function of
    the hidden state recovers it; near 0 (or below, on held-out data) means it does not.

    Args:
        features: (N, F) inputs of the read-out (hidden states, or observations as a baseline).
        targets: (N,) or (N, K) quantities to recover.
        test_features, test_targets: held-out data to score on (default: the fitting data).
        ridge: L2 penalty on the weights of the standardized features (not on the bias), relative to the
            number of samples; keeps the fit stable when features are collinear or outnumber the samples.

    Returns:
        The R² of each target column, an array of shape ``(K,)``, computed as ``1 - SSE / SST`` on the
        scored data.
    """
    X, Y = np.asarray(features, np.float64), np.asarray(targets, np.float64)
    Y = Y[:, None] if Y.ndim == 1 else Y
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y) or len(X) < 2:
        raise ValueError(f"features must be (N, F) and targets (N,) or (N, K) with the same N >= 2, got "
                         f"{X.shape} and {np.shape(targets)}")
    if (test_features is None) != (test_targets is None):
        raise ValueError("give both test_features and test_targets, or neither")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    Xt = X if test_features is None else np.asarray(test_features, np.float64)
    Yt = Y if test_targets is None else np.asarray(test_targets, np.float64)
    Yt = Yt[:, None] if Yt.ndim == 1 else Yt
    if Xt.ndim != 2 or Xt.shape[1] != X.shape[1] or Yt.shape[1] != Y.shape[1] or len(Xt) != len(Yt):
        raise ValueError(f"test data must match the fitting data's columns: features {X.shape} vs {Xt.shape}, "
                         f"targets {Y.shape} vs {Yt.shape}")
    # standardize each feature on the fitting data, so that the penalty does not depend on units
    # (a pole angle in radians varies by hundredths; a ridge on raw features would erase its differences)
    mean_x, mean_y, scale = X.mean(0), Y.mean(0), X.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    Xc, Yc = (X - mean_x) / scale, Y - mean_y
    weights = np.linalg.solve(Xc.T @ Xc + ridge * len(X) * np.eye(X.shape[1]), Xc.T @ Yc)
    prediction = ((Xt - mean_x) / scale) @ weights + mean_y
    sse = ((Yt - prediction) ** 2).sum(0)
    sst = ((Yt - Yt.mean(0)) ** 2).sum(0)
    return 1.0 - sse / np.maximum(sst, 1e-12)
