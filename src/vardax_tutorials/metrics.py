"""Scores for comparing an estimate with the truth of a twin experiment."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real
from ._checks import to_array

__all__ = ["bias", "rmse"]


def _pair(who, estimate, truth):
    estimate, truth = to_array(estimate), to_array(truth)
    if estimate.shape != truth.shape:
        raise ValueError(
            f"{who} got estimate of shape {estimate.shape} and truth of shape "
            f"{truth.shape}, expected equal shapes."
        )
    return estimate, truth


def rmse(
    estimate: Real[ArrayLike, "..."], truth: Real[ArrayLike, "..."], axis: int | tuple[int, ...] | None = None
) -> Float[Array, "..."]:
    """Root-mean-square error $\\sqrt{\\mathrm{mean}((\\hat x - x)^2)}$ over `axis` (all by default).

    `rmse(analysis, truth, axis=-1)` gives one number per time of a `(T, N)` trajectory.
    """
    estimate, truth = _pair("rmse", estimate, truth)
    return jnp.sqrt(jnp.mean((estimate - truth) ** 2, axis=axis))


def bias(
    estimate: Real[ArrayLike, "..."], truth: Real[ArrayLike, "..."], axis: int | tuple[int, ...] | None = None
) -> Float[Array, "..."]:
    """Mean error $\\mathrm{mean}(\\hat x - x)$ over `axis` (all by default)."""
    estimate, truth = _pair("bias", estimate, truth)
    return jnp.mean(estimate - truth, axis=axis)
