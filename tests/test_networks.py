"""Q-networks: shapes, the reset mask, fused vs step-by-step unroll, errors that explain."""
import pytest
import torch

from rdqn_core import CELL_TYPES, MLPQNetwork, RecurrentQNetwork, RecurrentState, build_q_network


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_shapes_and_state(cell):
    torch.manual_seed(0)
    net = RecurrentQNetwork(obs_dim=3, n_actions=4, hidden_size=16, cell=cell)
    q, state = net(torch.randn(7, 5, 3), net.initial_state(5), torch.zeros(7, 5), torch.full((7, 5), -1))
    assert q.shape == (7, 5, 4)
    assert state.h.shape == (1, 5, 16)
    assert (state.c is not None) == (cell == "lstm")


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_reset_inside_a_sequence_equals_a_fresh_start(cell):
    torch.manual_seed(0)
    net = RecurrentQNetwork(3, 2, hidden_size=8, cell=cell)
    obs = torch.randn(6, 2, 3)
    prev = torch.randint(0, 2, (6, 2))
    starts = torch.zeros(6, 2)
    starts[3, 0] = 1.0  # env 0 starts a new episode at t = 3; env 1 does not
    prev[3, 0] = -1
    q, _ = net(obs, None, starts, prev)
    q_fresh, _ = net(obs[3:, :1], None, None, prev[3:, :1])
    assert torch.allclose(q[3:, 0], q_fresh[:, 0], atol=1e-6), "memory before the start must not leak"
    q_no_reset, _ = net(obs, None, torch.zeros(6, 2), prev)
    assert torch.allclose(q[:, 1], q_no_reset[:, 1], atol=1e-6), "env 1 is unaffected by env 0's reset"
    assert not torch.allclose(q[3:, 0], q_no_reset[3:, 0], atol=1e-4)


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_fused_unroll_equals_step_by_step(cell):
    torch.manual_seed(1)
    net = RecurrentQNetwork(3, 2, hidden_size=8, cell=cell)
    obs, prev = torch.randn(9, 4, 3), torch.randint(-1, 2, (9, 4))
    q_fused, s_fused = net(obs, None, None, prev)
    state, outs = net.initial_state(4), []
    for t in range(9):
        q_t, state = net(obs[t : t + 1], state, None, prev[t : t + 1])
        outs.append(q_t)
    assert torch.allclose(q_fused, torch.cat(outs), atol=1e-6)
    assert torch.allclose(s_fused.h, state.h, atol=1e-6)
    # the loop that unroll takes when a reset sits inside the sequence, forced on a sequence without one
    q_loop, s_loop = net.unroll(net.inputs(obs, prev), None, torch.zeros(9, 4), resets_inside=True)
    assert torch.allclose(q_fused, q_loop, atol=1e-6) and torch.allclose(s_fused.h, s_loop.h, atol=1e-6)


def test_state_masking_resets_only_selected_envs():
    state = RecurrentState(torch.ones(1, 4, 3), torch.ones(1, 4, 3))
    kept = state.masked(torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert kept.h[0, :, 0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert kept.c[0, :, 0].tolist() == [0.0, 1.0, 0.0, 1.0]


def test_mlp_passes_state_through():
    net = build_q_network("mlp", 4, 2, 16, (16,), prev_action_input=False)
    assert isinstance(net, MLPQNetwork) and not net.is_recurrent
    q, state = net(torch.randn(2, 3, 4))
    assert q.shape == (2, 3, 2) and state is None


def test_wrong_observation_shape_raises():
    net = RecurrentQNetwork(2, 2)
    with pytest.raises(ValueError, match=r"obs must have shape \(T, B, 2\).*got \(5, 2\)"):
        net(torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"\(T, B, 2\).*got \(1, 5, 3\)"):
        net(torch.randn(1, 5, 3))


def test_wrong_state_shape_raises():
    net = RecurrentQNetwork(2, 2, hidden_size=8)
    with pytest.raises(ValueError, match="state for a lstm core with batch 3"):
        net(torch.randn(1, 3, 2), net.initial_state(4))


@pytest.mark.parametrize("kwargs, match", [
    (dict(obs_dim=0), "obs_dim"), (dict(n_actions=0), "n_actions"), (dict(hidden_size=-1), "hidden_size"),
    (dict(cell="transformer"), "unknown cell 'transformer'"), (dict(encoder_sizes=(0,)), "encoder_sizes"),
])
def test_bad_sizes_raise(kwargs, match):
    args = dict(obs_dim=2, n_actions=2) | kwargs
    with pytest.raises(ValueError, match=match):
        RecurrentQNetwork(**args)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_runs_on_device(device):
    net = RecurrentQNetwork(2, 2).to(device)
    q, _ = net(torch.randn(3, 2, 2, device=device), net.initial_state(2, device))
    assert q.device.type == device


def test_observation_normalizer_matches_numpy_over_batches():
    from rdqn_core import ObservationNormalizer

    rng = torch.Generator().manual_seed(0)
    data = torch.randn(300, 3, generator=rng) * torch.tensor([0.01, 1.0, 5.0]) + torch.tensor([0.0, 2.0, -1.0])
    norm = ObservationNormalizer(3)
    assert torch.equal(norm(data[:2]), data[:2]), "no statistics yet: identity"
    for chunk in data.split(7):  # uneven batches, as the trainer sees them
        norm.update(chunk)
    assert norm.mean.dtype == norm.var.dtype == norm.count.dtype == torch.float64  # a float32 count stops at 2**24
    torch.testing.assert_close(norm.mean, data.double().mean(0), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(norm.var, data.double().var(0, unbiased=False), rtol=1e-6, atol=1e-9)
    z = norm(data)
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    assert norm(torch.full((1, 3), 1e6)).max() == norm.clip


def test_normalizer_statistics_travel_in_the_state_dict():
    net = RecurrentQNetwork(2, 2, normalize_obs=True)
    net.normalizer.update(torch.randn(50, 2) * 3)
    copy = RecurrentQNetwork(2, 2, normalize_obs=True)
    copy.load_state_dict(net.state_dict())
    obs = torch.randn(4, 3, 2)
    assert torch.equal(net(obs)[0], copy(obs)[0])


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_encode_is_what_the_core_receives(cell):
    """forward == head(core(encode(obs))) from a zero state; encode feeds the previous action in."""
    torch.manual_seed(0)
    net = RecurrentQNetwork(3, 2, hidden_size=8, cell=cell, normalize_obs=True)
    obs, prev = torch.randn(5, 4, 3), torch.randint(-1, 2, (5, 4))
    x = net.encode(obs, prev)
    assert x.shape == (5, 4, 64)
    out, _ = net.rnn(x)
    q, _ = net(obs, None, None, prev)
    assert torch.allclose(net.head(out), q, atol=1e-6)
    assert not torch.allclose(net.encode(obs, prev), net.encode(obs, None)), "the previous action must matter"
    with pytest.raises(ValueError, match=r"obs must have shape \(T, B, 3\)"):
        net.encode(torch.randn(5, 3))


@pytest.mark.parametrize("support, match", [
    ((0.0, 1.0), "must be \\(low, high, bins\\)"),
    ((0.0, 1.0, "8"), "integer number of bins"),
    ((0.0, 1.0, 1), "integer number of bins >= 2"),
    ((1.0, 0.0, 8), "finite low < high"),
    ((None, 1.0, 8), "finite low < high \\(or both None"),
])
def test_histogram_head_says_what_is_wrong_with_its_support(support, match):
    from rdqn_core.networks.heads import QHead
    with pytest.raises(ValueError, match=match):
        QHead(4, 8, 2, value_support=support)
    head = QHead(4, 8, 2, value_support=(None, None, 8))  # the range from the task, set later
    with pytest.raises(ValueError, match="finite low < high"):
        head.set_value_range(2.0, float("inf"))
