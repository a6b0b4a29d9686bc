"""Device selection and seeding: the one place where both are decided (Chapter 1).

Every notebook calls :func:`seed_everything` once; every function that creates
tensors takes a ``device`` that comes from :func:`get_device`.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["get_device", "seed_everything"]

_ALLOWED_DEVICES = ("auto", "cpu", "cuda")


def get_device(device: str | torch.device = "auto") -> torch.device:
    """Return the torch device to compute on.

    ``"auto"`` picks CUDA when a GPU is visible and the CPU otherwise, so the same
    notebook runs unchanged on a laptop and on a GPU machine; the environment variable
    ``RDQN_DEVICE`` (``cpu``, ``cuda`` or ``cuda:N``), where set, decides ``"auto"`` instead
    (the test suite sets ``cpu``: its learning and bit-exactness claims were measured there).
    An explicit device is never overridden. ``"cuda"`` raises if no GPU is present instead of
    silently falling back.
    """
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        forced = os.environ.get("RDQN_DEVICE", "").strip().lower()
        if forced:
            if forced == "auto" or not (forced == "cpu" or forced.startswith("cuda")):
                raise ValueError(f"RDQN_DEVICE={forced!r} is not allowed; use 'cpu', 'cuda' or 'cuda:N' "
                                 "(or unset it: CUDA if present, else the CPU)")
            return get_device(forced)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was requested but CUDA is not available; use 'auto' or 'cpu'")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {device!r}; allowed: {', '.join(_ALLOWED_DEVICES)} (or 'cuda:N')")


def seed_everything(seed: int, deterministic: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and return a NumPy generator.

    With ``deterministic=True`` PyTorch is asked for deterministic kernels where it has
    them (``warn_only`` so that a GPU op without a deterministic version still runs).
    On the CPU, two runs with the same seed on the same machine give identical numbers.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)
