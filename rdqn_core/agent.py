"""The Q-learning agent: epsilon-greedy acting with a carried memory, TD updates, target sync (Chapters 3 and 4).

One class serves both the memoryless DQN (an :class:`~rdqn_core.networks.MLPQNetwork` on
windows of one step) and the DRQN (a recurrent network on windows with burn-in).

The update follows R2D2 (Kapturowski et al., 2019). A replayed window is
``[burn-in | trained steps | n-step look-ahead]``:

* the **burn-in** only produces the memory the trained steps start from: it runs
  without gradient, for the online and the target network alike;
* the **trained steps** run with gradient, from that memory; the loss sits on them alone;
* the **look-ahead** supplies the bootstrap values (the online network's argmax for
  Double DQN and the target network's value of it): it runs without gradient.

Observations are normalized and one-hot encoded once per update, for both networks,
which share one :class:`~rdqn_core.networks.ObservationNormalizer`.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import Tensor, nn

from .config import TrainConfig
from .envs.minesweeper import symmetry_permutations
from .rollout import act_epsilon_greedy
from .losses import (advantage_learning_targets, branch_values, branching_bootstrap, branching_q_taken,
                     double_q_bootstrap, hl_gauss_loss, max_q_bootstrap, n_step_return_parts, n_step_targets,
                     sequence_priorities, td_loss, value_range_from_rewards, value_rescale, value_rescale_inverse)
from .types import RecurrentState, SequenceBatch

__all__ = ["QAgent", "epsilon_at", "learning_rate_at"]


def epsilon_at(step: int, start: float, end: float, decay_steps: int) -> float:
    """Linear decay from ``start`` to ``end`` over ``decay_steps`` environment steps, then flat."""
    if decay_steps <= 0:
        return end
    return end + (start - end) * max(0.0, 1.0 - step / decay_steps)


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """The learning rate at ``step`` env steps: linear from ``learning_rate`` to ``lr_end`` over ``lr_decay_steps``.

    Counted in env steps like epsilon, so that runs of different length share the schedule (a 30k
    run is the first 30k steps of a 50k one); constant when ``lr_end`` is None.
    """
    if config.lr_end is None:
        return config.learning_rate
    return epsilon_at(step, config.learning_rate, config.lr_end, config.lr_decay_steps)


def _adam(params, lr: float, eps: float) -> torch.optim.Optimizer:
    try:  # the fused kernel exists on CPU from torch 2.4 on
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


class QAgent:
    """Online and target Q-networks, an Adam optimizer and the update rule.

    Args:
        network: an ``MLPQNetwork`` or ``RecurrentQNetwork`` (see ``build_q_network``).
        config: the run's :class:`TrainConfig` (gamma, n_steps, burn-in, loss, clipping, target sync).
        device: where the networks live; batches must be sampled onto the same device.
    """

    def __init__(self, network: nn.Module, config: TrainConfig, device: torch.device):
        self.config, self.device = config, device
        self.online = network.to(device)
        self.target = self._copy_of_online()
        # Polyak-Ruppert averaging (``average_tau > 0``): a moving average of the online weights plays greedily
        self.average = self._copy_of_online() if config.average_tau > 0 else None
        self.optimizer = _adam(self.online.parameters(), config.learning_rate, config.adam_eps)
        self.n_actions = network.n_actions
        self.updates = 0
        # Chapter 8: the cell permutations of the board's symmetries, (S, A), or None (no turning)
        self._board_moves = self._symmetry_tables(network) if config.board_symmetries else None
        self.priorities: Tensor | None = None  # (B,) new priorities of the last update's windows
        self._value_range_fitted = False  # a histogram head's range, taken from the task (fit_value_range)
        self._value_sigma: float | None = None  # value_sigma times the largest |reward| seen (fit_value_range)
        self._sigma_tensor: Tensor | None = None  # the same, as a 0-d float64 tensor on the device

    def _copy_of_online(self) -> nn.Module:
        """A frozen copy of the online net that shares its normalizer (the target; the weight average)."""
        twin = copy.deepcopy(self.online).requires_grad_(False)
        # a deep copy breaks cuDNN's single weight buffer: re-pack it, or every CUDA forward of the copy repacks
        # (and warns); a no-op on the CPU. Later syncs copy in place and keep the packing.
        for module in twin.modules():
            if isinstance(module, nn.RNNBase):
                module.flatten_parameters()
        # one normalizer for all networks: the copy sees observations exactly as the online net does
        twin.normalizer = self.online.normalizer
        return twin

    @property
    def greedy_network(self) -> nn.Module:
        """The network that plays greedy episodes (the weight average if ``average_tau > 0``, else the online net)."""
        return self.average if self.average is not None else self.online

    @property
    def is_recurrent(self) -> bool:
        return self.online.is_recurrent

    @property
    def normalizer(self):
        return self.online.normalizer

    def initial_state(self, batch_size: int) -> RecurrentState | None:
        return self.online.initial_state(batch_size, self.device)

    def act(self, obs: np.ndarray, state: RecurrentState | None, episode_starts: np.ndarray,
            prev_actions: np.ndarray, epsilon: float, rng: np.random.Generator
            ) -> tuple[np.ndarray, RecurrentState | None, np.ndarray]:
        """Epsilon-greedy actions of the online network: :func:`~rdqn_core.rollout.act_epsilon_greedy`."""
        return act_epsilon_greedy(self.online, obs, state, episode_starts, prev_actions, epsilon, rng)

    @property
    def value_range(self) -> tuple[float, float] | None:
        """The value histogram's ``(low, high)`` with ``loss='hl_gauss'`` (the config's, or the one taken from the
        task), else None. Before :meth:`fit_value_range` a pending range reads as its placeholder ``(0, 1)``."""
        if self.config.loss != "hl_gauss":
            return None
        edges = self.online.head.bin_edges
        return float(edges[0]), float(edges[-1])

    @property
    def value_range_pending(self) -> bool:
        """True while a histogram head (``loss='hl_gauss'``) waits for its range from the task (:meth:`fit_value_range`)."""
        cfg = self.config
        return cfg.loss == "hl_gauss" and cfg.value_min is None and not self._value_range_fitted

    def fit_value_range(self, reward_min: float, reward_max: float) -> tuple[float, float] | None:
        """Set the value histogram's range from the rewards seen so far and gamma, before the first update.

        The training loops call it once, with the replay's :meth:`~rdqn_core.replay.SequenceReplay.reward_range`
        when learning starts (:func:`~rdqn_core.losses.value_range_from_rewards`). It sets every copy of the
        network (online, target, average) and returns ``(low, high)``; it does nothing (returns None) when
        the range is not pending: a regression head, a range from the config, or a run already updating
        (a resumed one reads its range, and that it was fitted, from the checkpoint).
        """
        if not self.value_range_pending:
            return None
        low, high = value_range_from_rewards(reward_min, reward_max, self.config.gamma)
        for network in (self.online, self.target, self.average):
            if network is not None:
                network.head.set_value_range(low, high)
        if self.config.value_sigma is not None:  # the target Gaussian's width, from the rewards' scale
            scale = max(abs(reward_min), abs(reward_max)) or 1.0  # all rewards 0: |r| <= 1 assumed, as for the range
            self._set_sigma(self.config.value_sigma * scale)
        self._value_range_fitted = True
        return low, high

    @property
    def value_sigma(self) -> float | None:
        """Width of the histogram loss's target Gaussian, ``value_sigma`` times the largest absolute reward seen.

        Set by :meth:`fit_value_range`; None while the width defaults to 0.75 bin widths (and for a regression head).
        """
        return self._value_sigma

    def _set_sigma(self, sigma: float | None) -> None:
        self._value_sigma = None if sigma is None else float(sigma)
        self._sigma_tensor = None if sigma is None else torch.tensor(float(sigma), dtype=torch.float64,
                                                                      device=self.device)

    def _burn_in(self, network: nn.Module, x: Tensor, batch: SequenceBatch) -> RecurrentState | None:
        """The memory entering the first trained step: ``network`` run over the burn-in, no gradient."""
        burn = self.config.burn_in
        if burn == 0 or not network.is_recurrent:
            return batch.initial_state
        with torch.no_grad():
            return network.advance(x[:burn], batch.initial_state)

    def _symmetry_tables(self, network: nn.Module) -> tuple[Tensor, Tensor]:
        shape = getattr(network, "board_shape", None)
        if shape is None:
            raise ValueError("board_symmetries=True needs a board network that knows its board size (ConvQNetwork "
                             f"with board_shape), got {type(network).__name__}")
        source = torch.as_tensor(symmetry_permutations(*shape), device=self.device)  # (S, A): where each cell came from
        return source, torch.argsort(source, dim=1)  # and where each cell (action) goes

    def turn_boards(self, batch: SequenceBatch) -> SequenceBatch:
        """The batch with every window on one of the board's symmetries (Chapter 8, ``board_symmetries``).

        Window ``b`` gets move ``s_b``, drawn from a generator seeded by ``(seed, updates)``, so a resumed
        run draws the same moves. Its observations' cells are permuted and its actions (and previous
        actions; -1 stays -1) follow their cells; rewards, ends and states are unchanged.
        """
        source, target = self._board_moves
        obs = batch.obs
        steps, windows = obs.shape[:2]
        moves = np.random.default_rng([self.config.seed, self.updates]).integers(len(source), size=windows)
        moves = torch.as_tensor(moves, device=source.device)
        cells = source.shape[1]
        flat = obs.reshape(steps, windows, -1, cells)
        index = source[moves][None, :, None, :].expand_as(flat)
        turned = torch.gather(flat, 3, index).reshape(obs.shape)

        def move_actions(actions: Tensor) -> Tensor:
            table = target[moves][None].expand(actions.shape[0], windows, cells)
            moved = torch.gather(table, 2, actions.clamp(min=0).long().unsqueeze(-1)).squeeze(-1)
            return torch.where(actions >= 0, moved.to(actions.dtype), actions)

        return batch._replace(obs=turned, actions=move_actions(batch.actions),
                              prev_actions=move_actions(batch.prev_actions))

    def _bootstrap(self, q_target: Tensor, q_trained: Tensor, q_ahead: Tensor | None, obs: Tensor,
                   branches: tuple[int, ...] | None) -> Tensor:
        """Bootstrap values of observations ``burn + 1 .. W`` (for transitions ``burn .. W - 1``), ``(seq + n, B)``:
        the target network's max, or with Double DQN its value of the online network's argmax; masked
        actions (Chapter 8) never chosen; per-branch values with a branching head (Chapter 6)."""
        q_next_target = q_target[1:]
        q_next_online = torch.cat([q_trained.detach(), q_ahead])[1:] if q_ahead is not None else None
        if branches is not None:
            return branching_bootstrap(q_next_target, q_next_online, branches)
        allowed = self.online.action_mask(obs)  # (W + 1, B, A) or None: every action allowed
        next_allowed = None if allowed is None else allowed[self.config.burn_in + 1:]
        if q_next_online is not None:
            return double_q_bootstrap(q_next_target, q_next_online, next_allowed)
        return max_q_bootstrap(q_next_target, next_allowed)

    def update(self, batch: SequenceBatch) -> dict[str, Tensor]:
        """One gradient step on a batch of windows; returns the logged metrics as 0-dim tensors.

        With a prioritized batch (``batch.weights``) the loss is importance-weighted and
        ``priorities`` holds the windows' new priorities for the replay.

        Only the forward passes the targets read are run: without Double DQN no online look-ahead, and with
        ``gamma = 0`` (Chapter 8) neither that nor the target network (unless advantage learning reads it).

        Nothing here waits for the device (no ``.item()``): the caller reads the metrics when it
        logs them. The trainer checks there that the loss stayed finite.
        """
        cfg = self.config
        if self.value_range_pending:
            raise RuntimeError("loss='hl_gauss' takes its value range from the task: call "
                               "agent.fit_value_range(*replay.reward_range()) once before the first update, or set "
                               "value_min and value_max in the config")
        if self._board_moves is not None:
            batch = self.turn_boards(batch)
        burn, seq = cfg.burn_in, cfg.seq_len
        trained = slice(burn, burn + seq)
        with torch.no_grad():
            x = self.online.inputs(batch.obs, batch.prev_actions)  # (W + 1, B, in_dim), shared by both networks
        starts_after = batch.episode_starts[burn:]  # only its first row can hold a start (a window never
        # reaches into the next episode), so every pass from the burn-in on takes the fused path

        # online: burn-in without gradient -> trained steps with gradient -> look-ahead without gradient
        state = self._burn_in(self.online, x, batch)
        histogram = cfg.loss == "hl_gauss"  # the head learns a histogram of Q per action: keep its logits
        q_trained, state = self.online.unroll(x[trained], state, starts_after[:seq], resets_inside=False,
                                              **({"logits": True} if histogram else {}))
        if histogram:
            logits_trained, q_trained = q_trained, self.online.head.expected_q(q_trained)
        with torch.no_grad():
            state = state.detach() if state is not None else None
            branches = self.online.action_branches  # Chapter 6: one head per action dimension, or None
            # Only the passes the targets read are run. With gamma = 0 (Chapter 8) every discount is 0, so
            # every bootstrap value is multiplied by 0: zeros give the same targets bit for bit, and neither
            # the look-ahead nor the target network runs (unless advantage learning reads the target's Q).
            # Without Double DQN the online look-ahead (which only feeds its argmax) is skipped.
            needs_bootstrap = cfg.gamma > 0
            q_ahead = q_target = None
            if needs_bootstrap and cfg.double_dqn:
                q_ahead, _ = self.online.unroll(x[burn + seq:], state, starts_after[seq:], resets_inside=False)
            if needs_bootstrap or cfg.advantage_learning:
                target_state = self._burn_in(self.target, x, batch)
                q_target, _ = self.target.unroll(x[burn:], target_state, starts_after, resets_inside=False)
            if needs_bootstrap:
                bootstrap = self._bootstrap(q_target, q_trained, q_ahead, batch.obs, branches)
            else:
                bootstrap = x.new_zeros(x.shape[0] - burn - 1, x.shape[1])
            parts = batch.return_parts
            if parts is None or batch.parts_gamma != cfg.gamma:
                parts = n_step_return_parts(batch.rewards, batch.terminated, batch.truncated, batch.valid,
                                            cfg.gamma, cfg.n_steps)
            parts = type(parts)(parts.sums[trained], parts.discounts[trained], (parts.index[trained] - burn).clamp(min=0))
            if cfg.value_rescaling:  # R2D2: the network holds h(Q); the return is built in Q's scale
                targets = value_rescale(n_step_targets(parts, value_rescale_inverse(bootstrap)))
            else:
                targets = n_step_targets(parts, bootstrap)  # (seq, B)
            actions = batch.actions[trained]
            if cfg.advantage_learning and branches is None:
                targets = advantage_learning_targets(targets, q_target[:seq], actions, cfg.advantage_learning)
        mask = batch.loss_mask[trained]
        if branches is None:
            q_taken = q_trained.gather(-1, actions.unsqueeze(-1)).squeeze(-1)  # (seq, B)
        else:  # every branch regresses on the shared target: d TD terms per step, as (seq * d, B)
            q_taken = branching_q_taken(q_trained, actions, branches).permute(0, 2, 1).reshape(-1, actions.shape[1])
            d = len(branches)
            targets, mask = targets.repeat_interleave(d, dim=0), mask.repeat_interleave(d, dim=0)
            if cfg.advantage_learning:  # each branch's own action gap under the target network
                with torch.no_grad():
                    now = q_target[:seq]
                    taken = branching_q_taken(now, actions, branches)  # (seq, B, d)
                    best = torch.stack([p.max(dim=-1).values for p in branch_values(now, branches)], dim=-1)
                    gaps = (best - taken).permute(0, 2, 1).reshape(-1, actions.shape[1])
                    targets = targets - cfg.advantage_learning * gaps
        if histogram:
            index = actions[..., None, None].expand(*actions.shape, 1, logits_trained.shape[-1])
            loss = hl_gauss_loss(logits_trained.gather(-2, index).squeeze(-2), targets, mask,
                                 self.online.head.bin_edges, sigma=self._sigma_tensor, weights=batch.weights)
        else:
            loss = td_loss(q_taken, targets, mask, cfg.loss, weights=batch.weights)
        if batch.keys is not None:  # prioritized replay: hand the windows' new priorities back
            self.priorities = sequence_priorities(q_taken.detach() - targets, mask, cfg.priority_eta)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.reduce_gradients(mask)
        max_norm = cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf
        grad_norm = nn.utils.clip_grad_norm_(self.online.parameters(), max_norm, foreach=True)
        self.optimizer.step()
        self.updates += 1
        self.sync_target()
        if self.average is not None:
            with torch.no_grad():
                torch._foreach_lerp_(list(self.average.parameters()), list(self.online.parameters()),
                                     cfg.average_tau)
        with torch.no_grad():
            mask_f = mask.to(q_taken.dtype)
            return {
                "losses/td_loss": loss.detach(),
                "losses/grad_norm": grad_norm.detach(),  # before clipping
                "losses/clipped": (grad_norm > max_norm).float(),
                "losses/q_mean": (q_taken.detach() * mask_f).sum() / mask_f.sum().clamp(min=1.0),
            }

    def reduce_gradients(self, mask: Tensor) -> None:
        """Between backward and clipping: nothing in one process. Data-parallel learners (Chapter 7,
        :class:`~rdqn_core.parallel.DataParallelAgent`) combine the ranks' gradients here; ``mask`` is this
        batch's loss mask, whose count makes the combined loss a global masked mean."""

    def set_learning_rate(self, lr: float) -> None:
        """Set the optimizer's learning rate (the trainer follows :func:`learning_rate_at`)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def sync_target(self) -> None:
        """Every ``target_update_period`` updates, move the target by ``target_tau`` towards the online net.

        ``target_tau = 1`` is a hard copy every period (DQN); ``tau < 1`` with period 1 is Polyak
        averaging after every update. Called by :meth:`update`.
        """
        cfg = self.config
        if self.updates % cfg.target_update_period:
            return
        with torch.no_grad():
            if cfg.target_tau >= 1.0:
                for p_t, p in zip(self.target.parameters(), self.online.parameters()):
                    p_t.copy_(p)
            else:
                torch._foreach_lerp_(list(self.target.parameters()), list(self.online.parameters()), cfg.target_tau)

    def state_dict(self) -> dict:
        """Everything an interrupted run needs: the networks (and weight average), the optimizer, the update count."""
        out = {"online": self.online.state_dict(), "target": self.target.state_dict(),
               "optimizer": self.optimizer.state_dict(), "updates": self.updates,
               "value_range_fitted": self._value_range_fitted, "value_sigma": self._value_sigma}
        if self.average is not None:
            out["average"] = self.average.state_dict()
        return out

    def load_state_dict(self, state: dict) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        if self.average is not None:
            if "average" not in state:
                raise ValueError("this agent averages its weights (average_tau > 0) but the state has no 'average' "
                                 "network; load it into an agent built with the state's own config")
            self.average.load_state_dict(state["average"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
        # the range itself is in the networks' buffers; whether it was fitted yet, here
        self._value_range_fitted = bool(state.get("value_range_fitted", self.updates > 0))
        self._set_sigma(state.get("value_sigma"))
