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
