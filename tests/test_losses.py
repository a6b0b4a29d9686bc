"""TD targets against numbers computed by hand (gamma = 0.5 keeps the arithmetic exact)."""
import pytest
import torch

from rdqn_core import n_step_td_targets, td_loss
from rdqn_core.losses import advantage_learning_targets, value_rescale, value_rescale_inverse

# Three transitions of one episode (B = 1). q_next[t] are the Q-values of observation t + 1.
REWARDS = torch.tensor([[1.0], [2.0], [3.0]])
Q_NEXT_TARGET = torch.tensor([[[10.0, 20.0]], [[30.0, 5.0]], [[100.0, 100.0]]])
Q_NEXT_ONLINE = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]]])  # argmax: 0, 1, 0
ZERO = torch.zeros(3, 1, dtype=torch.bool)
ONES = torch.ones(3, 1, dtype=torch.bool)
END = torch.tensor([[False], [False], [True]])


def targets(n, terminated=ZERO, truncated=ZERO, valid=ONES, double=True):
    online = Q_NEXT_ONLINE if double else None
    return n_step_td_targets(REWARDS, terminated, truncated, valid, Q_NEXT_TARGET, online, 0.5, n)[:, 0].tolist()


def test_one_step_double_dqn_with_termination():
    # y0 = 1 + .5 * Qt(o1, argmax Qo(o1)=0) = 1 + 5; y1 = 2 + .5 * Qt(o2, 1) = 2 + 2.5; y2 = 3 (terminal)
    assert targets(1, terminated=END) == [6.0, 4.5, 3.0]


def test_one_step_plain_max():
    assert targets(1, terminated=END, double=False) == [11.0, 17.0, 3.0]


def test_three_step_stops_at_termination():
    # y0 = 1 + .5*2 + .25*3 (no bootstrap after a termination); y1 = 2 + .5*3; y2 = 3
    assert targets(3, terminated=END) == [2.75, 3.5, 3.0]


def test_three_step_bootstraps_through_truncation():
    # time limit: bootstrap from the final observation o3, Qt(o3, argmax Qo(o3)=0) = 100
    assert targets(3, truncated=END) == [1 + 1 + 0.75 + 0.125 * 100, 2 + 1.5 + 0.25 * 100, 3 + 0.5 * 100]


def test_termination_and_truncation_differ_only_in_bootstrap():
    assert targets(1, truncated=END)[2] - targets(1, terminated=END)[2] == 0.5 * 100


def test_window_end_and_invalid_steps_bootstrap_early():
    # transition 2 does not exist yet (newest step of a running episode): y0 uses o2 after two rewards
    valid = torch.tensor([[True], [True], [False]])
    y = targets(3, valid=valid)
    assert y == [1 + 0.5 * 2 + 0.25 * 5, 2 + 0.5 * 5, 0.0]


def test_batch_columns_are_independent():
    r = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    q = torch.zeros(2, 2, 2)
    term = torch.tensor([[True, False], [False, False]])
    v = torch.ones(2, 2, dtype=torch.bool)
    y = n_step_td_targets(r, term, torch.zeros_like(term), v, q, None, 0.9, 2)
    # column 0: the first episode ends at t=0, so y0 = 1 and never adds the reward of t=1
    assert y[:, 0].tolist() == [1.0, 1.0]
    assert y[:, 1].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("bad", [dict(n_steps=0), dict(gamma=1.5)])
def test_bad_arguments_raise(bad):
    kwargs = dict(gamma=0.5, n_steps=1) | bad
    with pytest.raises(ValueError, match="n_steps|gamma"):
        n_step_td_targets(REWARDS, ZERO, ZERO, ONES, Q_NEXT_TARGET, None, **kwargs)


def test_td_loss_huber_and_mse_are_masked_means():
    q = torch.tensor([[0.0, 0.0, 0.0]])
    y = torch.tensor([[0.5, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert td_loss(q, y, mask, "mse").item() == pytest.approx((0.25 + 9.0) / 2)
    assert td_loss(q, y, mask, "huber").item() == pytest.approx((0.5 * 0.25 + (3.0 - 0.5)) / 2)
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        td_loss(q, y, mask, "l1")


def test_advantage_learning_lowers_only_the_targets_of_actions_rated_below_the_best():
    targets = torch.tensor([[10.0, 20.0], [30.0, 40.0]])  # (T=2, B=2)
    q_now = torch.tensor([[[1.0, 3.0], [5.0, 2.0]], [[0.0, 0.0], [7.0, 9.0]]])  # (T, B, A=2)
    actions = torch.tensor([[0, 0], [1, 0]])
    got = advantage_learning_targets(targets, q_now, actions, alpha=0.5)
    # gaps max_b Q - Q(a): [[2, 0], [0, 2]] -> targets minus half of them
    assert torch.equal(got, torch.tensor([[9.0, 20.0], [30.0, 39.0]]))
    assert torch.equal(advantage_learning_targets(targets, q_now, actions, alpha=0.0), targets)


@pytest.mark.parametrize("alpha", [-0.1, 1.0])
def test_advantage_learning_rejects_alpha_outside_its_range(alpha):
    t = torch.zeros(2, 2)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\)"):
        advantage_learning_targets(t, torch.zeros(2, 2, 2), torch.zeros(2, 2, dtype=torch.long), alpha)


def test_value_rescaling_by_hand_and_its_inverse():
    # h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x: h(0) = 0, h(3) = 1 + 3 eps, h(-8) = -2 - 8 eps, h(99) = 9 + 99 eps
    x = torch.tensor([0.0, 3.0, -8.0, 99.0], dtype=torch.float64)
    expected = torch.tensor([0.0, 1.003, -2.008, 9.099], dtype=torch.float64)
    assert torch.allclose(value_rescale(x), expected, rtol=0, atol=1e-12)
    grid = torch.linspace(-1000, 1000, 2001, dtype=torch.float64)
    assert torch.allclose(value_rescale_inverse(value_rescale(grid)), grid, rtol=1e-9, atol=1e-9)
    assert torch.allclose(value_rescale(value_rescale_inverse(grid / 50)), grid / 50, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("eps", [0.0, -1e-3])
def test_value_rescaling_rejects_a_non_positive_epsilon(eps):
    with pytest.raises(ValueError, match="eps must be > 0"):
        value_rescale(torch.zeros(1), eps)
    with pytest.raises(ValueError, match="eps must be > 0"):
        value_rescale_inverse(torch.zeros(1), eps)


# HL-Gauss (the histogram loss): targets as Gaussian mass per bin, checked against math.erf
EDGES = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0], dtype=torch.float64)  # four bins of width 1


def gauss_mass(y: float, lo: float, hi: float, sigma: float) -> float:
    import math
    cdf = lambda x: 0.5 * (1.0 + math.erf((x - y) / (sigma * math.sqrt(2.0))))  # noqa: E731
    return cdf(hi) - cdf(lo)


def test_hl_gauss_probs_are_the_gaussian_mass_of_each_bin_renormalized_to_the_support():
    from rdqn_core.losses import hl_gauss_probs
    sigma = 0.75
    probs = hl_gauss_probs(torch.tensor([1.3], dtype=torch.float64), EDGES, sigma)[0]
    by_hand = torch.tensor([gauss_mass(1.3, a, b, sigma) for a, b in zip(EDGES[:-1].tolist(), EDGES[1:].tolist())],
                           dtype=torch.float64)
    assert torch.allclose(probs, by_hand / by_hand.sum(), rtol=0, atol=1e-12)
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-12)
    # a target outside the support is clipped to its end first
    assert torch.allclose(hl_gauss_probs(torch.tensor([9.0], dtype=torch.float64), EDGES, sigma),
                          hl_gauss_probs(torch.tensor([4.0], dtype=torch.float64), EDGES, sigma), rtol=0, atol=0)


def test_hl_gauss_mean_recovers_interior_targets_on_a_fine_support():
    from rdqn_core.losses import hl_gauss_probs
    edges = torch.linspace(-10.0, 110.0, 102, dtype=torch.float64)
    centers = (edges[1:] + edges[:-1]) / 2
    y = torch.tensor([0.0, 17.3, 55.55, 99.0], dtype=torch.float64)
    mean = (hl_gauss_probs(y, edges, 0.75 * (edges[1] - edges[0]).item()) * centers).sum(-1)
    assert torch.allclose(mean, y, rtol=0, atol=1e-4)  # bins 1.19 wide


def test_hl_gauss_loss_is_the_masked_mean_cross_entropy_and_is_least_at_the_target_histogram():
    from rdqn_core.losses import hl_gauss_loss, hl_gauss_probs
    torch.manual_seed(0)
    y = torch.tensor([[1.3, 2.0], [0.2, 3.9]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    logits = torch.randn(2, 2, 4, dtype=torch.float64)
    sigma = 0.75  # the default: 0.75 bin widths
    probs = hl_gauss_probs(y, EDGES, sigma)
    per_step = -(probs * torch.log_softmax(logits, -1)).sum(-1)
    expected = (per_step * mask).sum() / 3
    assert hl_gauss_loss(logits, y, mask, EDGES).item() == pytest.approx(expected.item(), rel=1e-12)
    # the cross-entropy is least (the entropy of the target) when the logits are the target's log-probabilities
    best = hl_gauss_loss(probs.log(), y, mask, EDGES).item()
    entropy = (-(probs * probs.log()).sum(-1) * mask).sum().item() / 3
    assert best == pytest.approx(entropy, rel=1e-12) and best < expected.item()
    weights = torch.tensor([2.0, 0.5], dtype=torch.float64)
    assert hl_gauss_loss(logits, y, mask, EDGES, weights=weights).item() == pytest.approx(
        ((per_step * weights) * mask).sum().item() / 3, rel=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda L: L(torch.zeros(2, 3, 4), torch.zeros(2, 3), torch.ones(2, 3), torch.arange(4.0)), "need 5 bin edges"),
    (lambda L: L(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3), EDGES), "must be \\(T, B, K\\)"),
    (lambda L: L(torch.zeros(2, 3, 4), torch.zeros(2, 3), torch.ones(2, 3), EDGES, sigma=0.0), "sigma must be > 0"),
    (lambda L: L(torch.zeros(2, 3, 4), torch.zeros(2, 3), torch.ones(2, 3), EDGES, sigma=torch.tensor(-1.0)),
     "sigma must be > 0, got -1.0"),
])
def test_hl_gauss_loss_rejects_bad_shapes(call, match):
    from rdqn_core.losses import hl_gauss_loss
    with pytest.raises(ValueError, match=match):
        call(hl_gauss_loss)


def test_td_loss_refuses_the_histogram_loss_by_name():
    with pytest.raises(ValueError, match="hl_gauss_loss"):
        td_loss(torch.zeros(2, 1), torch.zeros(2, 1), torch.ones(2, 1), "hl_gauss")


def test_value_range_from_rewards_bounds_the_discounted_return_with_a_margin():
    from rdqn_core.losses import value_range_from_rewards
    assert value_range_from_rewards(1.0, 1.0, 0.99) == (-10.0, 110.0)  # CartPole: [0, 100] widened by 10 each side
    low, high = value_range_from_rewards(-16.0, -0.5, 0.95)  # a pendulum: every return <= 0
    assert (low, high) == pytest.approx((-320.0 - 32.0, 0.0 + 32.0))
    low, high = value_range_from_rewards(-1.0, 3.0, 0.5, margin=0.0)  # mixed signs: [-1, 3] / 0.5
    assert (low, high) == (-2.0, 6.0)
    assert value_range_from_rewards(-1.0, 2.0, 0.0) == pytest.approx((-1.3, 2.3))  # gamma 0: one reward


def test_value_range_from_rewards_warns_without_a_reward_and_refuses_what_has_no_bound():
    from rdqn_core.losses import value_range_from_rewards
    with pytest.warns(UserWarning, match="every reward seen .* was 0"):
        assert value_range_from_rewards(0.0, 0.0, 0.9) == pytest.approx((-12.0, 12.0))
    with pytest.raises(ValueError, match="gamma < 1"):
        value_range_from_rewards(0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="reward_min <= reward_max"):
        value_range_from_rewards(2.0, 1.0, 0.9)
    with pytest.raises(ValueError, match="reward_min <= reward_max"):
        value_range_from_rewards(float("nan"), 1.0, 0.9)
