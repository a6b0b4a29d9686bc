"""Running standardization of observations (Chapter 4)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ObservationNormalizer"]


class ObservationNormalizer(nn.Module):
    """Running mean and variance of observations; ``forward`` standardizes and clips to +-``clip``.

    Why: CartPole's pole angle moves by hundredths of a radian per step, and a memory has to
    difference such values to infer velocity; standardized inputs make those differences visible
    (the same reason RecurrentPPO's zoo settings normalize observations). The statistics are
    float64 buffers (a float32 count stops growing at 2**24 observations and its mean drifts),
    saved in checkpoints; they change only when :meth:`update` is called (by the trainer, on
    the observations it collects, for as long as ``TrainConfig.obs_norm_steps`` says).

    Easy to overlook: every update of the statistics changes what the network computes for the
    same weights, so the recurrent states stored in the replay go stale even while the weights
    stand still (Chapter 4 measures it). Freezing the statistics removes that source.
    """

    def __init__(self, obs_dim: int, clip: float = 10.0, eps: float = 1e-8):
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer("mean", torch.zeros(obs_dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(obs_dim, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(0.0, dtype=torch.float64))

    @torch.no_grad()
    def update(self, obs: Tensor) -> None:
        """Merge a batch ``(..., obs_dim)`` into the running statistics (Chan et al.'s parallel formula)."""
        obs = obs.reshape(-1, self.mean.shape[0]).to(self.mean)
        n = obs.shape[0]
        batch_mean, batch_var = obs.mean(0), obs.var(0, unbiased=False)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total)
        self.count.copy_(total)

    def forward(self, obs: Tensor) -> Tensor:
        # No "count == 0" branch: it would cost a device-to-host sync on every forward pass. Before the
        # first update mean 0 and variance 1 make this the identity (up to the clip).
        scale = torch.rsqrt(self.var + self.eps).to(obs.dtype)
        return ((obs - self.mean.to(obs.dtype)) * scale).clamp(-self.clip, self.clip)
