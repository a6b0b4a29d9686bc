"""Gradient instruments of Chapter 5: closed forms, clipping geometry, errors that explain."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from rdqn_core import (ClipComparison, RecurrentQNetwork, compare_clipping, fit_log_slope,
                       hidden_state_gradient_norms, loss_spikes, scale_recurrent_weights, stability_summary)


@pytest.mark.parametrize("a", [0.5, 0.9, 1.0, 1.3])
def test_linear_rnn_gradient_is_a_power_of_the_weight(a):
    """h_t = a h_{t-1} + x_t, L = sum(h_T): dL/dh_{T-k} = a^k * ones, so the norm is a^k sqrt(B H)."""
    torch.manual_seed(0)
    B, H, T = 3, 4, 12
    W = a * torch.eye(H, dtype=torch.float64)
    norms = hidden_state_gradient_norms(lambda x, h: h @ W.T + x, torch.randn(T, B, H, dtype=torch.float64),
                                        state=torch.randn(B, H, dtype=torch.float64))
    expected = torch.tensor([a**k for k in range(T + 1)], dtype=torch.float64) * math.sqrt(B * H)
    assert norms.shape == (T + 1,)
    assert torch.allclose(norms, expected, rtol=1e-10)
    assert fit_log_slope(norms) == pytest.approx(math.log10(a), abs=1e-10)


def test_tanh_rnn_matches_hand_written_chain_rule():
    """Three steps of h_t = tanh(W h + U x): the Jacobian product written out by hand."""
    torch.manual_seed(1)
    rnn = nn.RNN(2, 3, dtype=torch.float64)
    x = torch.randn(3, 1, 2, dtype=torch.float64)
    norms = hidden_state_gradient_norms(rnn, x)
    W, U = rnn.weight_hh_l0, rnn.weight_ih_l0
    b = rnn.bias_hh_l0 + rnn.bias_ih_l0
    with torch.no_grad():
        h, pre = torch.zeros(3, dtype=torch.float64), []
        for t in range(3):
            pre.append(W @ h + U @ x[t, 0] + b)
            h = torch.tanh(pre[-1])
        grad, expected = torch.ones(3, dtype=torch.float64), []
        for t in reversed(range(3)):
            expected.append(grad.norm().item())
            grad = W.T @ ((1 - torch.tanh(pre[t]) ** 2) * grad)  # dh_t/dh_{t-1} = diag(tanh') W
        expected.append(grad.norm().item())
    assert norms.tolist() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_modules_and_cells_give_the_same_norms(kind):
    torch.manual_seed(2)
    module = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind](3, 5)
    cell = {"rnn": nn.RNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell}[kind](3, 5)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in module.state_dict().items()})
    x = torch.randn(6, 2, 3)
    a, b = hidden_state_gradient_norms(module, x), hidden_state_gradient_norms(cell, x)
    assert torch.allclose(a, b, rtol=1e-5)
    assert (a > 0).all()


def test_recurrent_q_network_is_unrolled_through_its_encoder():
    torch.manual_seed(3)
    net = RecurrentQNetwork(4, 2, hidden_size=8, encoder_sizes=(8,), cell="gru")
    norms = hidden_state_gradient_norms(net, torch.randn(5, 3, 4))
    assert norms.shape == (6,) and torch.isfinite(norms).all()
    with pytest.raises(ValueError, match=r"observations \(T, B, 4\)"):
        hidden_state_gradient_norms(net, torch.randn(5, 3, 7))


def test_scaling_moves_a_plain_rnn_between_vanishing_and_exploding():
    torch.manual_seed(4)
    rnn = nn.RNN(4, 32, dtype=torch.float64)
    with torch.no_grad():
        nn.init.orthogonal_(rnn.weight_hh_l0)
    x = 0.1 * torch.randn(30, 4, 4, dtype=torch.float64)
    small = fit_log_slope(hidden_state_gradient_norms(scale_recurrent_weights(rnn, 0.5), x))
    large = fit_log_slope(hidden_state_gradient_norms(scale_recurrent_weights(rnn, 2.0), x))
    assert small < -0.2 and large > 0.05
    assert torch.equal(scale_recurrent_weights(rnn, 3.0).weight_hh_l0, 3.0 * rnn.weight_hh_l0)
    assert torch.equal(rnn.weight_hh_l0, scale_recurrent_weights(rnn, 1.0).weight_hh_l0), "original untouched"


def test_clipping_by_norm_keeps_the_direction_and_by_value_turns_it():
    g = torch.tensor([3.0, 0.5])
    result = compare_clipping(g, max_norm=1.0, clip_value=1.0)
    assert isinstance(result, ClipComparison)
    assert result.total_norm == pytest.approx(math.hypot(3.0, 0.5))
    assert result.norm_clipped_norm == pytest.approx(1.0)
    assert result.cosine_norm == pytest.approx(1.0)
    expected_cos = (3.0 * 1.0 + 0.5 * 0.5) / (math.hypot(3.0, 0.5) * math.hypot(1.0, 0.5))
    assert result.cosine_value == pytest.approx(expected_cos)
    assert result.cosine_value < 0.96
    assert result.fraction_value_clipped == pytest.approx(0.5)
    assert g.tolist() == [3.0, 0.5], "the caller's gradient is not modified"


def test_clipping_several_tensors_uses_the_global_norm():
    torch.manual_seed(5)
    grads = [10 * torch.randn(4, 3), torch.randn(7)]
    result = compare_clipping(grads, max_norm=2.0, clip_value=0.5)
    assert result.norm_clipped_norm == pytest.approx(2.0)
    assert result.cosine_norm == pytest.approx(1.0)
    assert result.cosine_value < 0.99
    nothing_cut = compare_clipping(grads, max_norm=1e6, clip_value=1e6)
    assert nothing_cut.cosine_value == pytest.approx(1.0) and nothing_cut.fraction_value_clipped == 0.0


def test_loss_spikes_and_stability_summary():
    losses = [1.0] * 20 + [50.0] + [1.0] * 20 + [5.0]
    assert loss_spikes(losses, factor=10, window=10) == 1
    assert loss_spikes(np.linspace(1, 100, 50), factor=10, window=10) == 0, "a slow rise is not a spike"
    history = {"losses/td_loss": losses, "losses/grad_norm": [2.0] * 41 + [20.0],
               "losses/clipped": [0.0] * 41 + [1.0], "eval/mean_return": [10.0, 30.0]}
    summary = stability_summary(history, spike_factor=10, window=10, tail=0.5)
    assert summary["updates"] == 42 and summary["loss_spikes"] == 1
    assert summary["max_grad_norm"] == 20.0 and summary["clip_fraction"] == pytest.approx(1 / 42)
    assert summary["final_eval_return"] == 30.0
    assert math.isnan(stability_summary({**history, "eval/mean_return": []})["final_eval_return"])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: hidden_state_gradient_norms(nn.RNN(3, 4), torch.randn(5, 3)), ValueError, r"\(T, B, D\)"),
        (lambda: hidden_state_gradient_norms(nn.RNN(3, 4), torch.randn(5, 2, 6)), ValueError, "input_size=3"),
        (lambda: hidden_state_gradient_norms(nn.RNN(3, 4, num_layers=2), torch.randn(5, 2, 3)), ValueError,
         "one layer"),
        (lambda: hidden_state_gradient_norms(nn.LSTM(3, 4), torch.randn(5, 2, 3), state=torch.zeros(2, 4)),
         ValueError, r"pair \(h, c\)"),
        (lambda: hidden_state_gradient_norms(lambda x, h: h + x, torch.randn(5, 2, 3)), ValueError,
         "explicit initial state"),
        (lambda: hidden_state_gradient_norms(nn.RNN(3, 4), torch.randn(5, 2, 3), loss_fn=lambda h: h), ValueError,
         "scalar"),
        (lambda: hidden_state_gradient_norms(42, torch.randn(5, 2, 3)), TypeError, "cannot unroll"),
        (lambda: fit_log_slope([1.0, 0.0, 1e-3]), ValueError, "finite and positive"),
        (lambda: fit_log_slope([1.0]), ValueError, "at least two"),
        (lambda: scale_recurrent_weights(nn.RNN(3, 4), 0.0), ValueError, "positive"),
        (lambda: scale_recurrent_weights(nn.Linear(3, 4), 2.0), ValueError, "weight_hh"),
        (lambda: compare_clipping(torch.zeros(3), 1.0, 1.0), ValueError, "all zero"),
        (lambda: compare_clipping(torch.ones(3), -1.0, 1.0), ValueError, "max_norm"),
        (lambda: compare_clipping([], 1.0, 1.0), ValueError, "non-empty"),
        (lambda: loss_spikes([1.0, 2.0], factor=0.5), ValueError, "factor"),
        (lambda: stability_summary({"losses/td_loss": [1.0]}), ValueError, "grad_norm"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
