"""QAgent: the R2D2 update against a per-window walk, gradients stop at burn-in and look-ahead, target sync.

The reference in these tests never calls the agent's own pieces: it runs the online and the target
network over each whole window (from the window's initial state, resets included) and builds every
n-step target by walking the window's rows one by one.
"""
import copy
import warnings

import numpy as np
import pytest
import torch

import rdqn_core.agent as agent_module
from rdqn_core import (QAgent, RecurrentState, Rollout, SequenceReplay, TrainConfig, build_agent, epsilon_at,
                       make_vector_env)

OBS_DIM, N_ACTIONS, HIDDEN = 3, 3, 8
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def small_config(cell: str = "lstm", **overrides) -> TrainConfig:
    base = dict(hidden_size=HIDDEN, encoder_sizes=(8,), seq_len=4, burn_in=2, n_steps=3, gamma=0.9,
                batch_size=48, normalize_obs=True, torch_threads=1, progress=False, target_tau=0.5,
                learning_rate=1e-2)
    if cell == "mlp":
        return TrainConfig.memoryless(**{**base, "seq_len": 1, "burn_in": 0, **overrides})
    return TrainConfig(cell=cell, initial_state="stored", **{**base, **overrides})


def make_agent(config: TrainConfig, device: str = "cpu", seed: int = 0) -> QAgent:
    torch.manual_seed(seed)
    agent = build_agent(config, OBS_DIM, N_ACTIONS, torch.device(device))
    # statistics far from (0, 1), so that a forgotten normalization changes every number
    agent.normalizer.update(torch.randn(500, OBS_DIM, device=device) * 3.0 + 1.0)
    with torch.no_grad():  # a target that differs from the online net: Double DQN and max then disagree
        for p in agent.target.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return agent


def replay_for(config: TrainConfig, num_envs: int, obs_dim: int = OBS_DIM, gamma: float | str | None = "config",
               capacity: int = 2000) -> SequenceReplay:
    """The replay the config describes; ``gamma`` for its return parts: the config's, another one, or None."""
    recurrent = config.cell != "mlp"
    return SequenceReplay(capacity, num_envs, obs_dim, seq_len=config.seq_len, burn_in=config.burn_in,
                          n_steps=config.n_steps, hidden_size=HIDDEN if recurrent else 0,
                          lstm=config.cell == "lstm", initial_state=config.initial_state,
                          gamma=config.gamma if gamma == "config" else gamma)


# Episode ends per env: (length, how it ends); after the list every env runs on without an end.
SCHEDULE = ([(5, "truncated"), (9, "terminated"), (3, "truncated"), (6, "terminated")],
            [(7, "terminated"), (4, "truncated"), (8, "truncated"), (2, "terminated")])


def fill_by_hand(replay: SequenceReplay, steps: int = 40, seed: int = 0) -> SequenceReplay:
    """Synthetic steps: random observations, actions, rewards and stored states; ends as in SCHEDULE."""
    rng = np.random.default_rng(seed)
    B = replay.num_envs
    episode = np.zeros(B, int)
    step = np.zeros(B, int)
    prev = np.full(B, -1)
    for _ in range(steps):
        terminated, truncated = np.zeros(B, bool), np.zeros(B, bool)
        for e in range(B):
            if episode[e] < len(SCHEDULE[e]):
                length, kind = SCHEDULE[e][episode[e]]
                if step[e] + 1 == length:
                    (terminated if kind == "terminated" else truncated)[e] = True
        actions = rng.integers(N_ACTIONS, size=B)
        state = None
        if replay.hidden_size:
            h = torch.randn(1, B, replay.hidden_size)
            state = RecurrentState(h, torch.randn(1, B, replay.hidden_size) if replay.lstm else None)
        replay.add(rng.normal(size=(B, replay.obs_dim)) * 2.0, actions, rng.uniform(-3, 3, size=B),
                   terminated, truncated, rng.normal(size=(B, replay.obs_dim)), prev, state)
        done = terminated | truncated
        step = np.where(done, 0, step + 1)
        episode += done
        prev = np.where(done, -1, actions)
    return replay


def huber(x: torch.Tensor) -> torch.Tensor:
    a = x.abs()
    return torch.where(a < 1.0, 0.5 * a**2, a - 0.5)


def h(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """R2D2's value rescaling, written out again for the reference."""
    return torch.sign(x) * (torch.sqrt(torch.abs(x) + 1) - 1) + eps * x


def h_inverse(y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Inverse of :func:`h` by bisection: slow, but independent of the closed form under test."""
    y = torch.as_tensor(y, dtype=torch.float64)
    lo, hi = torch.full_like(y, -1e6), torch.full_like(y, 1e6)
    for _ in range(200):
        mid = (lo + hi) / 2
        below = h(mid, eps) < y
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (lo + hi) / 2


@torch.no_grad()
def reference_update(online, target, batch, config: TrainConfig):
    """Targets, q_taken and loss of an update, by running both networks over the whole window and walking rows."""
    q_online, _ = online(batch.obs, batch.initial_state, batch.episode_starts, batch.prev_actions)  # (W + 1, B, A)
    q_target, _ = target(batch.obs, batch.initial_state, batch.episode_starts, batch.prev_actions)
    q_online, q_target = q_online.double(), q_target.double()
    rewards, valid = batch.rewards.double(), batch.valid.bool()
    terminated, truncated = batch.terminated.bool(), batch.truncated.bool()
    W, B = rewards.shape
    burn, seq, n, gamma = config.burn_in, config.seq_len, config.n_steps, config.gamma

    def value(o: int, b: int, double: bool) -> float:
        """Bootstrap value of observation o of window b, in the scale of returns."""
        v = q_target[o, b, q_online[o, b].argmax()] if double else q_target[o, b].max()
        return h_inverse(v).item() if config.value_rescaling else v.item()

    def walk(t: int, b: int, double: bool) -> float:
        g, discount = 0.0, 1.0
        for k in range(n):
            j = t + k
            g += discount * rewards[j, b].item()
            discount *= gamma
            if terminated[j, b]:
                return g  # no future after a termination
            if truncated[j, b] or k == n - 1 or not valid[j + 1, b]:
                return g + discount * value(j + 1, b, double)  # a truncation bootstraps from the final obs
        raise AssertionError("unreachable")

    mask = batch.loss_mask[burn:burn + seq].bool()
    targets = torch.zeros(seq, B, dtype=torch.float64)
    max_targets = torch.zeros(seq, B, dtype=torch.float64)
    for i in range(seq):
        for b in range(B):
            if mask[i, b]:
                targets[i, b] = walk(burn + i, b, config.double_dqn)
                max_targets[i, b] = walk(burn + i, b, False)
    if config.value_rescaling:  # the network learns h(return)
        targets, max_targets = h(targets), h(max_targets)
    actions = batch.actions[burn:burn + seq]
    q_taken = q_online[burn:burn + seq].gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    loss = (huber(q_taken - targets) * mask).sum() / mask.sum()
    return targets, max_targets, q_taken, mask, loss


def check_update_against_reference(agent: QAgent, batch, monkeypatch) -> None:
    config = agent.config
    online, target = copy.deepcopy(agent.online), copy.deepcopy(agent.target)
    targets, max_targets, q_taken, mask, loss = reference_update(online, target, batch, config)
    seen = {}
    original = agent_module.td_loss

    def spy(q, y, m, kind="huber", weights=None):
        assert weights is None  # a uniform replay's batch carries no importance weights
        seen.update(q=q.detach().clone(), y=y.clone(), m=m.clone())
        return original(q, y, m, kind, weights=weights)

    monkeypatch.setattr(agent_module, "td_loss", spy)
    metrics = agent.update(batch)
    assert torch.equal(seen["m"].bool(), mask)
    m = mask
    assert torch.allclose(seen["y"][m].double(), targets[m], rtol=1e-5, atol=1e-5)
    assert torch.allclose(seen["q"][m].double(), q_taken[m], rtol=1e-5, atol=1e-5)
    assert metrics["losses/td_loss"].item() == pytest.approx(loss.item(), rel=1e-5, abs=1e-6)
    if config.double_dqn and config.gamma > 0:  # the batch really tells Double DQN from the plain max
        assert not torch.allclose(targets[m], max_targets[m], atol=1e-4)


def window_features(batch, config: TrainConfig) -> dict[str, int]:
    """How many windows hold each kind of episode end (or cut) where the targets read them."""
    burn = config.burn_in
    valid = batch.valid.bool()[burn:]
    in_reach = valid & batch.loss_mask.bool()[burn:].any(0)
    ahead_cut = valid[:-1] & ~valid[1:] & ~(batch.terminated.bool() | batch.truncated.bool())[burn:-1]
    return {
        "terminated": int((batch.terminated.bool()[burn:] & in_reach).any(0).sum()),
        "truncated": int((batch.truncated.bool()[burn:] & in_reach).any(0).sum()),
        "newest_row_cut": int(ahead_cut.any(0).sum()),
        "starts_at_burn_in": int((batch.episode_starts[burn] == 1).sum()),
        "mid_episode": int((batch.burn_in_lengths == burn).sum()) if burn else 0,
    }


@pytest.mark.parametrize("cell, double_dqn, replay_gamma", [
    ("lstm", True, "config"),  # parts computed by the replay at sample time
    ("gru", False, None),  # parts computed by the agent
    ("lstm", True, 0.5),  # replay parts with another gamma: the agent must recompute them
    ("mlp", True, "config"),
    ("lstm", True, "rescaled"),  # R2D2's value rescaling: targets h(sums + discounts * h^-1(v))
    ("mlp", False, "gamma0"),  # gamma = 0 (Chapter 8): the targets are the rewards, no network bootstraps
    ("gru", True, "gamma0"),
])
def test_update_matches_a_per_window_walk_with_episode_ends(cell, double_dqn, replay_gamma, monkeypatch):
    rescaled = replay_gamma == "rescaled"
    overrides = {"gamma": 0.0} if replay_gamma == "gamma0" else {}
    replay_gamma = "config" if rescaled or overrides else replay_gamma
    config = small_config(cell, double_dqn=double_dqn, value_rescaling=rescaled, **overrides)
    agent = make_agent(config)
    replay = fill_by_hand(replay_for(config, num_envs=2, gamma=replay_gamma))
    batch = replay.sample(config.batch_size, np.random.default_rng(1))
    features = window_features(batch, config)
    assert features["terminated"] > 0 and features["truncated"] > 0 and features["newest_row_cut"] > 0
    if cell != "mlp":
        assert features["starts_at_burn_in"] > 0 and features["mid_episode"] > 0
        assert batch.initial_state.h.abs().sum() > 0, "stored states reach the window start"
    check_update_against_reference(agent, batch, monkeypatch)


@pytest.mark.parametrize("cell", ["lstm", "mlp"])
def test_hl_gauss_update_is_the_cross_entropy_against_the_walk_targets(cell, monkeypatch):
    """loss='hl_gauss': the targets are the walk's (bootstrapped from the histograms' means), the loss is the
    cross-entropy of the taken actions' logits with the targets' Gaussian histograms."""
    from rdqn_core.losses import hl_gauss_probs
    config = small_config(cell, loss="hl_gauss", value_min=-4.0, value_max=8.0, value_bins=24)
    agent = make_agent(config)
    with torch.no_grad():  # peaked histograms: fresh ones are near-uniform, and every action's mean is alike
        for net in (agent.online, agent.target):
            net.head.out.weight.add_(3.0 * torch.randn_like(net.head.out.weight))
    head = agent.online.head
    assert head.bin_edges.tolist() == torch.linspace(-4.0, 8.0, 25).tolist()
    replay = fill_by_hand(replay_for(config, num_envs=2))
    batch = replay.sample(config.batch_size, np.random.default_rng(1))
    online = copy.deepcopy(agent.online)
    targets, max_targets, _, mask, _ = reference_update(online, copy.deepcopy(agent.target), batch, config)
    assert not torch.allclose(targets[mask], max_targets[mask], atol=1e-4)  # Double DQN is seen
    with torch.no_grad():  # the online net's logits over the whole window, taken actions at the trained steps
        x = online.inputs(batch.obs, batch.prev_actions)
        logits, _ = online.unroll(x, batch.initial_state, batch.episode_starts, logits=True)
    burn, seq = config.burn_in, config.seq_len
    actions = batch.actions[burn:burn + seq]
    taken = logits[burn:burn + seq].gather(-2, actions[..., None, None].expand(*actions.shape, 1, 24)).squeeze(-2)
    probs = hl_gauss_probs(targets, head.bin_edges.double(), 0.75 * 0.5)
    cross_entropy = -(probs * torch.log_softmax(taken.double(), -1)).sum(-1)
    expected = (cross_entropy * mask).sum() / mask.sum()
    monkeypatch.setattr(agent_module, "td_loss", None)  # the regression loss must not run
    metrics = agent.update(batch)
    assert metrics["losses/td_loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    # Q is the histogram's mean, and the update moved it
    q_after, _ = agent.online(batch.obs[:1], None if cell == "mlp" else batch.initial_state, None,
                              batch.prev_actions[:1])
    q_logits = agent.online.unroll(agent.online.inputs(batch.obs[:1], batch.prev_actions[:1]),
                                   None if cell == "mlp" else batch.initial_state, logits=True)[0]
    assert torch.allclose(q_after, (torch.softmax(q_logits, -1) * head.bin_centers).sum(-1), atol=1e-6)
    assert q_after.shape == (1, config.batch_size, N_ACTIONS)


def test_hl_gauss_agent_survives_a_checkpoint_round_trip(tmp_path):
    from rdqn_core import load_checkpoint, save_checkpoint
    config = small_config("gru", loss="hl_gauss", value_min=-1.0, value_max=3.0, value_bins=9)
    agent = make_agent(config)
    path = save_checkpoint(tmp_path / "hl.pt", agent, config)
    loaded, loaded_config = load_checkpoint(path, "cpu")
    assert loaded_config == config and loaded.online.head.bins == 9
    obs = torch.randn(5, 2, OBS_DIM)
    assert torch.equal(agent.online(obs)[0], loaded.online(obs)[0])


def test_hl_gauss_range_from_the_task_is_set_once_on_every_copy_and_saved(tmp_path):
    """value_min = value_max = None: no update before fit_value_range; then the online net, the target and the
    weight average share the range the rewards give, a second call changes nothing, and a checkpoint keeps it."""
    from rdqn_core import load_checkpoint, save_checkpoint
    from rdqn_core.losses import value_range_from_rewards
    config = small_config("lstm", loss="hl_gauss", value_bins=9, average_tau=0.01)
    agent = make_agent(config)
    replay = fill_by_hand(replay_for(config, num_envs=2))
    batch = replay.sample(config.batch_size, np.random.default_rng(1))
    obs = torch.randn(5, 2, OBS_DIM)
    ranked = agent.online(obs)[0].argmax(-1)
    assert agent.value_range_pending and agent.value_range == (0.0, 1.0)  # the placeholder until the fit
    with pytest.raises(RuntimeError, match="fit_value_range"):
        agent.update(batch)
    assert agent.fit_value_range(-3.0, 1.0) == value_range_from_rewards(-3.0, 1.0, config.gamma)
    low, high = value_range_from_rewards(-3.0, 1.0, config.gamma)
    for network in (agent.online, agent.target, agent.average):
        assert network.head.bin_edges[0].item() == pytest.approx(low)
        assert network.head.bin_edges[-1].item() == pytest.approx(high)
        assert network.head.bin_centers[0].item() == pytest.approx(low + (high - low) / 18)
    assert agent.value_range == pytest.approx((low, high))
    assert torch.equal(agent.online(obs)[0].argmax(-1), ranked)  # the placeholder range ranked the actions alike
    agent.update(batch)
    assert not agent.value_range_pending and agent.fit_value_range(-100.0, 100.0) is None
    assert agent.online.head.bin_edges[-1].item() == pytest.approx(high)
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "auto.pt", agent, config), "cpu")
    assert torch.equal(loaded.online.head.bin_edges, agent.online.head.bin_edges)
    assert torch.equal(loaded.online(obs)[0], agent.online(obs)[0])
    regression = make_agent(small_config("lstm"))
    assert not regression.value_range_pending and regression.fit_value_range(-1.0, 1.0) is None
    assert regression.value_range is None


@pytest.mark.parametrize("overrides, match", [
    (dict(dueling=True), "dueling"),
    (dict(value_rescaling=True), "value_rescaling"),
    (dict(value_min=5.0, value_max=5.0), "value_min < value_max"),
    (dict(value_min=-5.0), "both none"),
    (dict(gamma=1.0), "gamma < 1"),
    (dict(value_bins=1), "value_bins=1 is out of range"),
    (dict(value_sigma=0.0), "value_sigma=0.0 is out of range"),
    (dict(value_sigma=0.5, value_min=-1.0, value_max=3.0), "leave value_min and value_max none"),
])
def test_hl_gauss_rejects_what_it_does_not_combine_with(overrides, match):
    with pytest.raises(ValueError, match=match):
        small_config("lstm", loss="hl_gauss", **overrides)


def test_value_sigma_needs_the_histogram_loss():
    with pytest.raises(ValueError, match="needs loss='hl_gauss', got loss='huber'"):
        small_config("lstm", value_sigma=0.75)


def test_value_sigma_scales_the_target_gaussian_with_the_rewards_and_is_saved(tmp_path, monkeypatch):
    """value_sigma: the loss's Gaussian is value_sigma times the largest |reward| the fit saw, not 0.75 bin widths;
    the update's loss is the cross-entropy with that width, and a checkpoint (and a resumed agent) keeps it."""
    from rdqn_core import load_checkpoint, save_checkpoint
    from rdqn_core.losses import hl_gauss_loss
    config = small_config("lstm", loss="hl_gauss", value_bins=9, value_sigma=0.5)
    agent = make_agent(config)
    assert agent.value_sigma is None  # until the fit
    agent.fit_value_range(-3.0, 1.0)
    assert agent.value_sigma == pytest.approx(1.5)  # 0.5 * max(|-3|, |1|)
    seen = []
    monkeypatch.setattr(agent_module, "hl_gauss_loss", lambda *a, **kw: seen.append(kw["sigma"]) or hl_gauss_loss(*a, **kw))
    replay = fill_by_hand(replay_for(config, num_envs=2))
    agent.update(replay.sample(config.batch_size, np.random.default_rng(1)))
    assert seen[0].dtype == torch.float64 and seen[0].item() == pytest.approx(1.5)
    assert seen[0].item() != pytest.approx(0.75 * float(agent.online.head.bin_edges[1] - agent.online.head.bin_edges[0]))
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "sigma.pt", agent, config), "cpu")
    assert loaded.value_sigma == agent.value_sigma and not loaded.value_range_pending
    fresh = make_agent(config)
    fresh.load_state_dict(agent.state_dict())
    assert fresh.value_sigma == agent.value_sigma
    default = make_agent(small_config("lstm", loss="hl_gauss", value_bins=9))  # none: 0.75 bin widths, no sigma kept
    default.fit_value_range(-3.0, 1.0)
    assert default.value_sigma is None
    zeros = make_agent(config)  # every reward 0: the scale |r| <= 1 is assumed, as for the range
    with pytest.warns(UserWarning, match="every reward seen"):
        zeros.fit_value_range(0.0, 0.0)
    assert zeros.value_sigma == pytest.approx(0.5)


def test_update_matches_the_walk_on_a_replay_filled_by_rollout(monkeypatch):
    config = small_config("lstm", n_steps=2, burn_in=3, seq_len=5)
    envs = make_vector_env("CartPole-v1", 2, env_kwargs={"max_episode_steps": 12})
    torch.manual_seed(2)  # fixed weights, whatever ran before (with seeds 0 and 1 the online and
    # perturbed target nets happen to agree on every argmax, and the batch could not tell Double DQN apart)
    agent = build_agent(config, 4, 2, torch.device("cpu"))
    replay = SequenceReplay(2000, 2, 4, seq_len=config.seq_len, burn_in=config.burn_in, n_steps=config.n_steps,
                            hidden_size=HIDDEN, lstm=True, initial_state="stored", gamma=config.gamma)
    rollout = Rollout(envs, agent.online, seed=3)
    rng = np.random.default_rng(0)
    for _ in range(150):
        step = rollout.step(0.5, rng)
        agent.normalizer.update(torch.as_tensor(step.obs))
        replay.add(step.obs, step.actions, step.rewards, step.terminated, step.truncated, step.next_obs,
                   step.prev_actions, step.state)
    envs.close()
    with torch.no_grad():
        for p in agent.target.parameters():
            p.add_(0.3 * torch.randn_like(p))
    batch = replay.sample(64, rng)
    features = window_features(batch, config)
    assert features["terminated"] > 0 and features["truncated"] > 0
    check_update_against_reference(agent, batch, monkeypatch)


def test_no_gradient_reaches_burn_in_or_look_ahead_inputs(monkeypatch):
    config = small_config("lstm", burn_in=3, seq_len=4, n_steps=3)
    agent = make_agent(config)
    replay = fill_by_hand(replay_for(config, num_envs=2))
    batch = replay.sample(config.batch_size, np.random.default_rng(2))
    captured = []
    original = agent.online.inputs

    def leaf_inputs(obs, prev_actions=None):
        x = original(obs, prev_actions).detach().requires_grad_(True)  # (W + 1, B, in_dim)
        captured.append(x)
        return x

    monkeypatch.setattr(agent.online, "inputs", leaf_inputs)
    agent.update(batch)
    assert len(captured) == 1, "inputs are computed once per update, for both networks"
    grad = captured[0].grad
    burn, seq = config.burn_in, config.seq_len
    assert grad is not None
    assert torch.count_nonzero(grad[:burn]) == 0, "burn-in runs without gradient"
    assert torch.count_nonzero(grad[burn + seq:]) == 0, "look-ahead runs without gradient"
    # every window with a trained transition gets a gradient on its first trained step
    trained_windows = batch.loss_mask[burn:burn + seq].bool().any(0)
    per_window = grad[burn].abs().sum(-1)  # (B,)
    assert torch.all(per_window[trained_windows] > 0)


@pytest.mark.parametrize("cell", ["mlp", "lstm"])
@pytest.mark.parametrize("gamma, double_dqn, advantage, online_passes, target_passes", [
    (0.9, True, 0.0, 2, 1),  # trained steps + look-ahead for the argmax; the target bootstraps
    (0.9, False, 0.0, 1, 1),  # no argmax to take: no look-ahead
    (0.0, True, 0.0, 1, 0),  # gamma = 0: nothing bootstraps
    (0.0, False, 0.5, 1, 1),  # advantage learning reads the target's Q of the trained steps
])
def test_update_runs_only_the_passes_its_targets_read(cell, gamma, double_dqn, advantage, online_passes,
                                                       target_passes, monkeypatch):
    config = small_config(cell, gamma=gamma, double_dqn=double_dqn, advantage_learning=advantage)
    agent = make_agent(config)
    batch = fill_by_hand(replay_for(config, num_envs=2)).sample(16, np.random.default_rng(3))
    calls = {"online": 0, "target": 0}
    for name in calls:
        network = getattr(agent, name)
        original = network.unroll

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(network, "unroll", counted)
    metrics = agent.update(batch)
    assert torch.isfinite(metrics["losses/td_loss"])
    assert calls == {"online": online_passes, "target": target_passes}


def test_memory_from_the_burn_in_still_shapes_the_trained_q_values():
    """Without gradient, the burn-in must still run: a different burn-in gives different Q-values."""
    config = small_config("lstm", burn_in=3)
    agent = make_agent(config)
    replay = fill_by_hand(replay_for(config, num_envs=2))
    batch = replay.sample(config.batch_size, np.random.default_rng(4))
    mid = (batch.burn_in_lengths == config.burn_in).nonzero().flatten()
    assert len(mid) > 0
    changed = batch._replace(obs=batch.obs.clone())
    changed.obs[:config.burn_in] += 5.0
    losses = [make_agent(config).update(b)["losses/td_loss"].item() for b in (batch, changed)]
    assert losses[0] != losses[1]


def parameters(network) -> list[torch.Tensor]:
    return [p.detach().clone() for p in network.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def _agent_and_batches(config: TrainConfig, updates: int):
    agent = make_agent(config)
    replay = fill_by_hand(replay_for(config, num_envs=2))
    rng = np.random.default_rng(5)
    return agent, [replay.sample(8, rng) for _ in range(updates)]


def test_hard_target_sync_copies_every_period():
    agent, batches = _agent_and_batches(small_config("lstm", target_tau=1.0, target_update_period=3), 6)
    initial_target = parameters(agent.target)
    for u, batch in enumerate(batches, start=1):
        agent.update(batch)
        online, target = parameters(agent.online), parameters(agent.target)
        if u % 3 == 0:
            assert same(target, online), f"target must equal online after update {u}"
        else:
            assert not same(target, online), f"target must lag after update {u}"
        if u < 3:
            assert same(target, initial_target), f"target must not move before the first sync (update {u})"


@pytest.mark.parametrize("adam_eps", [1e-8, 1e-2])
def test_first_adam_step_uses_the_configured_epsilon(adam_eps):
    """Adam's first step moves each weight by lr * g / (|g| + eps): eps damps the small gradients."""
    agent, batches = _agent_and_batches(small_config("lstm", adam_eps=adam_eps, learning_rate=1e-3), 1)
    before = [p.detach().clone() for p in agent.online.parameters()]
    agent.update(batches[0])
    lr = agent.config.learning_rate
    for old, p in zip(before, agent.online.parameters()):
        g = p.grad
        expected = old - lr * g / (g.abs() + adam_eps)
        assert torch.allclose(p.detach(), expected, rtol=0, atol=1e-7)
    small = [p.grad.abs() < 1e-3 for p in agent.online.parameters()]
    assert any(m.any() for m in small), "the batch must produce some gradients below 1e-3"


def test_polyak_sync_every_update():
    agent, batches = _agent_and_batches(small_config("gru", target_tau=0.1, target_update_period=1), 2)
    for batch in batches:
        old_target = parameters(agent.target)
        agent.update(batch)
        for t_old, t_new, p in zip(old_target, parameters(agent.target), parameters(agent.online)):
            assert torch.allclose(t_new, 0.9 * t_old + 0.1 * p, rtol=0, atol=1e-6)
        assert not same(parameters(agent.target), old_target)


def test_polyak_sync_every_second_update():
    agent, batches = _agent_and_batches(small_config("lstm", target_tau=0.5, target_update_period=2), 4)
    for u, batch in enumerate(batches, start=1):
        old_target = parameters(agent.target)
        agent.update(batch)
        new_target = parameters(agent.target)
        if u % 2:
            assert same(new_target, old_target), f"target must stay put after update {u}"
        else:
            for t_old, t_new, p in zip(old_target, new_target, parameters(agent.online)):
                assert torch.allclose(t_new, 0.5 * t_old + 0.5 * p, rtol=0, atol=1e-6)


def test_weight_average_follows_the_online_net_and_plays_greedily():
    """average_tau > 0: after every update the average moves by tau towards the online weights (its own
    normalizer is the online one), and the average is the greedy network; 0: there is none."""
    agent, batches = _agent_and_batches(small_config("lstm", average_tau=0.2), 3)
    assert agent.greedy_network is agent.average and agent.average is not agent.online
    assert agent.average.normalizer is agent.online.normalizer
    assert same(parameters(agent.average), parameters(agent.online))  # starts as the initial weights
    for batch in batches:
        old = parameters(agent.average)
        agent.update(batch)
        for a_old, a_new, p in zip(old, parameters(agent.average), parameters(agent.online)):
            assert torch.allclose(a_new, 0.8 * a_old + 0.2 * p, rtol=0, atol=1e-6)
        assert not same(parameters(agent.average), parameters(agent.online))
    plain, _ = _agent_and_batches(small_config("lstm"), 0)
    assert plain.average is None and plain.greedy_network is plain.online


def test_weight_average_leaves_training_unchanged():
    """Only the greedy player changes: the online and target weights after the same updates are identical."""
    runs = []
    for tau in (0.0, 0.05):
        agent, batches = _agent_and_batches(small_config("gru", average_tau=tau), 3)
        for batch in batches:
            agent.update(batch)
        runs.append(agent)
    for name in ("online", "target"):
        assert same(parameters(getattr(runs[0], name)), parameters(getattr(runs[1], name))), name


def test_weight_average_state_round_trip():
    agent, batches = _agent_and_batches(small_config("lstm", average_tau=0.3), 2)
    for batch in batches:
        agent.update(batch)
    state = agent.state_dict()
    other, _ = _agent_and_batches(small_config("lstm", average_tau=0.3), 0)
    other.load_state_dict(state)
    assert same(parameters(other.average), parameters(agent.average))
    del state["average"]
    with pytest.raises(ValueError, match="no 'average' network"):
        other.load_state_dict(state)


@pytest.mark.parametrize("step, expected", [(0, 1.0), (500, 0.55), (1000, 0.1), (1001, 0.1), (10**6, 0.1),
                                            (250, 0.775)])
def test_epsilon_schedule(step, expected):
    assert epsilon_at(step, 1.0, 0.1, 1000) == pytest.approx(expected)


@pytest.mark.parametrize("step", [0, 7, 10**6])
def test_epsilon_without_decay_is_the_end_value(step):
    assert epsilon_at(step, 1.0, 0.05, 0) == 0.05


def test_target_shares_the_online_normalizer():
    agent = make_agent(small_config("lstm"))
    assert agent.target.normalizer is agent.online.normalizer
    obs = torch.randn(2, 3, OBS_DIM)
    before = agent.target.inputs(obs)
    agent.normalizer.update(torch.randn(100, OBS_DIM) * 10 + 4)
    after = agent.target.inputs(obs)
    assert not torch.equal(before, after), "updating the online statistics changes what the target sees"
    assert torch.equal(agent.target.inputs(obs), agent.online.inputs(obs))
    # still shared after loading a saved state (loading copies into the shared buffers)
    other = make_agent(small_config("lstm"), seed=1)
    other.load_state_dict(agent.state_dict())
    assert other.target.normalizer is other.online.normalizer
    assert torch.equal(other.normalizer.mean, agent.normalizer.mean)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_update_and_sample_on_device(device, monkeypatch):
    config = small_config("lstm", device=device)
    replay = fill_by_hand(replay_for(config, num_envs=2))
    cpu_agent = make_agent(config)
    agent = QAgent(copy.deepcopy(cpu_agent.online), config, torch.device(device))
    agent.target.load_state_dict(cpu_agent.target.state_dict())
    batch = replay.sample(16, np.random.default_rng(3), device=device)
    tensors = [batch.obs, batch.prev_actions, batch.actions, batch.rewards, batch.terminated, batch.truncated,
               batch.valid, batch.loss_mask, batch.episode_starts, *batch.initial_state, *batch.stored_state,
               *batch.return_parts]
    assert all(t.device.type == device for t in tensors)
    with warnings.catch_warnings():  # on CUDA: the target's deep copy must keep cuDNN's packed weights
        warnings.filterwarnings("error", message=".*single contiguous chunk.*")
        metrics = agent.update(batch)
    assert all(v.device.type == device and v.dim() == 0 for v in metrics.values())
    assert all(torch.isfinite(v) for v in metrics.values())
    cpu_batch = replay.sample(16, np.random.default_rng(3), device="cpu")
    expected = reference_update(cpu_agent.online, cpu_agent.target, cpu_batch, config)[-1]
    assert metrics["losses/td_loss"].item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5)
    assert agent.updates == 1
