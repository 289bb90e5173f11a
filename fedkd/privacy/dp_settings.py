"""DP-SGD parameters of one training run, checked without importing Opacus."""

from __future__ import annotations

from dataclasses import dataclass

# How Opacus bounds per-sample gradients. hooks: per-sample gradients from module hooks; functorch: from
# vmap; ghost: ghost clipping (Li et al., 2022; Bu et al., 2022), per-sample gradient norms without
# materializing per-sample gradients, then a second backward pass on the loss reweighted by the clipping factors.
GRAD_SAMPLE_MODES = ("hooks", "functorch", "ghost")


@dataclass(frozen=True)
class DPSettings:
    """DP-SGD parameters of one training run.

    Attributes
    ----------
    noise_multiplier : float
        ``sigma``: noise standard deviation over the clipping norm (>= 0).
    max_grad_norm : float
        ``C``: per-sample gradient clipping norm (> 0).
    grad_sample_mode : {"hooks", "functorch", "ghost"}
        How Opacus computes per-sample gradients (or, for ghost clipping, their norms).
    physical_batch_size : int
        Virtual steps: the most records one forward/backward pass takes; a larger
        Poisson-sampled (logical) batch is processed in chunks of this size and
        takes one noisy step. 0 takes the logical batch in one pass. Memory only:
        the privacy analysis and the update are those of the logical batch.
    """

    noise_multiplier: float
    max_grad_norm: float
    grad_sample_mode: str = "hooks"
    physical_batch_size: int = 0

    def __post_init__(self) -> None:
        if not self.noise_multiplier >= 0:
            raise ValueError(f"noise_multiplier must be >= 0, got {self.noise_multiplier}")
        if not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        if self.grad_sample_mode not in GRAD_SAMPLE_MODES:
            raise ValueError(f"grad_sample_mode must be one of {GRAD_SAMPLE_MODES}, got {self.grad_sample_mode!r}")
        if self.physical_batch_size < 0:
            raise ValueError(f"physical_batch_size must be >= 0, got {self.physical_batch_size}")
        if self.physical_batch_size and self.grad_sample_mode == "ghost":
            raise ValueError("physical_batch_size needs per-sample gradients (hooks or functorch); ghost clipping "
                             "already keeps memory low")
