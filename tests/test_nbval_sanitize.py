"""The nbval sanitizers (book/nbval_sanitize.cfg) mask what differs between runs and machines, and nothing more."""
import pathlib
import re

import pytest
from nbval.plugin import get_sanitize_patterns

CFG = pathlib.Path(__file__).resolve().parents[1] / "book" / "nbval_sanitize.cfg"


def sanitize(text: str) -> str:
    """What nbval does with the file: every section's regex replaced, in order, on stored and fresh outputs."""
    patterns = get_sanitize_patterns(CFG.read_text())
    assert len(patterns) >= 8, "nbval must find every section of the file"
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize("stored, fresh", [
    ("-142.39894767852405", "-142.39894800755664"),  # chapter 6's controller return on AVX-512 and AVX2 machines
    ("0.9021544", "0.9021497"),
    ("train 12.3 s", "train 45.6 s"),
    ("100%|██████████| 2000/2000 [00:03<00:00, 612.31it/s]", "100%|██████████| 2000/2000 [00:05<00:00, 401.00it/s]"),
])
def test_run_to_run_and_machine_to_machine_noise_is_masked(stored, fresh):
    assert sanitize(stored) == sanitize(fresh)


@pytest.mark.parametrize("stored, fresh", [
    ("-142.398", "-142.399"),  # a change in the third decimal is a change
    ("DQN 80.7%", "DQN 83.2%"),
    ("solved within 30k: 8/10", "solved within 30k: 7/10"),
    ("(4, 2)", "(4, 3)"),
])
def test_differences_that_matter_are_kept(stored, fresh):
    assert sanitize(stored) != sanitize(fresh)
