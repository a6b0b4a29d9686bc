"""The delayed-recall task: layout, the cue is in the inputs and only at t=0, errors."""
import numpy as np
import pytest
import torch

from rdqn_core import recall_task, recall_task_layout

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("delay", [0, 1, 7])
@pytest.mark.parametrize("distractors", [False, True])
def test_shapes_dtypes_and_device(device, delay, distractors):
    inputs, targets = recall_task(5, delay, 3, np.random.default_rng(0), distractors=distractors, device=device)
    assert inputs.shape == (delay + 2, 5, 3 + 2)  # (T, B, F)
    assert targets.shape == (5,)
    assert inputs.dtype == torch.float32 and targets.dtype == torch.long
    assert inputs.device.type == device and targets.device.type == device


@pytest.mark.parametrize("distractors", [False, True])
def test_cue_is_recoverable_from_the_first_step(distractors):
    n = 5
    inputs, targets = recall_task(300, 4, n, np.random.default_rng(1), distractors=distractors)
    layout = recall_task_layout(n)
    first = inputs[0]  # (B, F)
    assert torch.equal(first[:, layout["symbols"]].argmax(-1), targets)
    assert torch.equal(first[:, layout["symbols"]].sum(-1), torch.ones(300))  # exactly one symbol
    assert torch.equal(first[:, layout["cue_flag"]], torch.ones(300))
    assert not first[:, layout["query_flag"]].any()
    assert set(targets.tolist()) == set(range(n))  # all symbols occur in a batch this large


def test_query_step_has_only_the_query_flag():
    n = 4
    inputs, _ = recall_task(50, 3, n, np.random.default_rng(2), distractors=True)
    expected = torch.zeros(50, n + 2)
    expected[:, recall_task_layout(n)["query_flag"]] = 1.0
    assert torch.equal(inputs[-1], expected)


def test_blank_delay_steps_are_all_zero():
    inputs, _ = recall_task(64, 6, 4, np.random.default_rng(3))
    assert torch.count_nonzero(inputs[1:-1]) == 0


def test_distractor_steps_carry_one_symbol_and_no_flags():
    n = 4
    inputs, _ = recall_task(64, 6, n, np.random.default_rng(4), distractors=True)
    layout = recall_task_layout(n)
    delay_steps = inputs[1:-1]  # (delay, B, F)
    assert torch.equal(delay_steps[..., layout["symbols"]].sum(-1), torch.ones(6, 64))
    assert not delay_steps[..., layout["cue_flag"]].any()
    assert not delay_steps[..., layout["query_flag"]].any()


def test_distractors_carry_no_information_about_the_cue():
    # With a fixed seed this is deterministic; the bounds hold for an independent draw with
    # a wide margin (the standard error of each frequency is about 0.004 here).
    n, batch, delay = 4, 20_000, 3
    inputs, targets = recall_task(batch, delay, n, np.random.default_rng(5), distractors=True)
    distractor_symbols = inputs[1:-1, :, :n].argmax(-1)  # (delay, B)
    same = (distractor_symbols == targets[None, :]).float().mean().item()
    assert abs(same - 1 / n) < 0.02
    for cue in range(n):  # the distractor distribution is the same whatever the cue
        freq = torch.bincount(distractor_symbols[:, targets == cue].flatten(), minlength=n).float()
        assert torch.allclose(freq / freq.sum(), torch.full((n,), 1 / n), atol=0.03)


def test_same_generator_state_gives_the_same_batch():
    a = recall_task(8, 2, 3, np.random.default_rng(7), distractors=True)
    b = recall_task(8, 2, 3, np.random.default_rng(7), distractors=True)
    c = recall_task(8, 2, 3, np.random.default_rng(8), distractors=True)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not (torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
        (dict(delay=-1), ValueError, "delay must be >= 0, got -1"),
        (dict(n_symbols=1), ValueError, "n_symbols must be >= 2, got 1"),
        (dict(delay=2.5), TypeError, "delay must be an integer"),
        (dict(batch_size=True), TypeError, "batch_size must be an integer"),
        (dict(rng=0), TypeError, "rng must be a numpy.random.Generator"),
    ],
)
def test_bad_arguments_raise_with_what_was_given(kwargs, error, match):
    args = dict(batch_size=4, delay=2, n_symbols=3, rng=np.random.default_rng(0)) | kwargs
    with pytest.raises(error, match=match):
        recall_task(**args)
