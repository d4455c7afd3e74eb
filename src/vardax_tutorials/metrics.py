"""Scores for comparing an estimate with the truth of a twin experiment.

Both are bookkeeping a notebook runs dozens of times on concrete arrays, so they
compute with NumPy when every input is concrete and on the host (no XLA program
is compiled for a new shape) and with `jax.numpy` under a trace or on an
accelerator; either way they return a JAX array.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real
from ._checks import inspect_with, to_array

__all__ = ["bias", "rmse"]


def _error(who, estimate, truth):
    """`estimate - truth` in the namespace `inspect_with` picks, after the shape check.

    Host inputs stay on the host (NumPy), so they are not copied to the device and back.
    """
    xp = inspect_with(estimate, truth)
    convert = np.asarray if xp is np else to_array
    estimate, truth = convert(estimate), convert(truth)
    if estimate.shape != truth.shape:
        raise ValueError(
            f"{who} got estimate of shape {estimate.shape} and truth of shape "
            f"{truth.shape}, expected equal shapes."
        )
    dtype = jnp.result_type(estimate, truth, float)         # the dtype jnp.mean would return
    error = xp.asarray(estimate, dtype) - xp.asarray(truth, dtype)
    return xp, error


def _out(xp, value):
    return jax.device_put(value) if xp is np else value


def rmse(
    estimate: Real[ArrayLike, "..."], truth: Real[ArrayLike, "..."], axis: int | tuple[int, ...] | None = None
) -> Float[Array, "..."]:
    """Root-mean-square error $\\sqrt{\\mathrm{mean}((\\hat x - x)^2)}$ over `axis` (all by default).

    `rmse(analysis, truth, axis=-1)` gives one number per time of a `(T, N)` trajectory.
    """
    xp, error = _error("rmse", estimate, truth)
    return _out(xp, xp.sqrt(xp.mean(error**2, axis=axis)))


def bias(
    estimate: Real[ArrayLike, "..."], truth: Real[ArrayLike, "..."], axis: int | tuple[int, ...] | None = None
) -> Float[Array, "..."]:
    """Mean error $\\mathrm{mean}(\\hat x - x)$ over `axis` (all by default)."""
    xp, error = _error("bias", estimate, truth)
    return _out(xp, xp.mean(error, axis=axis))
