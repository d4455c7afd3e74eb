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
from ._checks import check_real, float_dtype, inspect_with, to_array

__all__ = ["bias", "rmse"]


def _error(who, estimate, truth):
    """The namespace to compute in, `estimate - truth`, its dtype and the dtype to accumulate in.

    NumPy for concrete host inputs (no copy to the device and back), `jnp` otherwise
    (`inspect_with`). The dtype is that of `jnp.mean` on the inputs as given (a Python
    float does not promote float32); sums run in at least float32, as `jnp.mean` does.
    """
    xp = inspect_with(estimate, truth)
    dtype = float_dtype(estimate, truth)
    convert = np.asarray if xp is np else to_array
    estimate, truth = check_real(who, "estimate", convert(estimate)), check_real(who, "truth", convert(truth))
    if estimate.shape != truth.shape:
        raise ValueError(
            f"{who} got estimate of shape {estimate.shape} and truth of shape "
            f"{truth.shape}, expected equal shapes."
        )
    if estimate.size == 0:
        raise ValueError(f"{who} got empty arrays (shape {estimate.shape}); expected at least one entry.")
    error = xp.asarray(estimate, dtype) - xp.asarray(truth, dtype)
    return xp, error, dtype, jnp.promote_types(dtype, jnp.float32)


def _out(xp, value):
    return jax.device_put(value) if xp is np else value


def rmse(
    estimate: Real[ArrayLike, "..."], truth: Real[ArrayLike, "..."], axis: int | tuple[int, ...] | None = None
) -> Float[Array, "..."]:
    """Root-mean-square error $\\sqrt{\\mathrm{mean}((\\hat x - x)^2)}$ over `axis` (all by default).

    `rmse(analysis, truth, axis=-1)` gives one number per time of a `(T, N)` trajectory.
    A score, not a loss: its gradient is NaN where the error is zero (the square root);
    differentiate the mean squared error instead.
    """
    xp, error, dtype, acc = _error("rmse", estimate, truth)
    return _out(xp, xp.sqrt(xp.mean(error**2, axis=axis, dtype=acc)).astype(dtype))


def bias(
    estimate: Real[ArrayLike, "..."], truth: Real[ArrayLike, "..."], axis: int | tuple[int, ...] | None = None
) -> Float[Array, "..."]:
    """Mean error $\\mathrm{mean}(\\hat x - x)$ over `axis` (all by default)."""
    xp, error, dtype, acc = _error("bias", estimate, truth)
    return _out(xp, xp.mean(error, axis=axis, dtype=acc).astype(dtype))
