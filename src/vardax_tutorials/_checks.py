"""Input validation shared by the public API.

Shape checks are static and always run. Value checks (NaN where the mask says
"observed", a non-positive variance) raise `ValueError` when the arrays are
concrete, which is the case whenever a user calls the library eagerly; inside
`jax.jit` they fall back to `eqx.error_if`, which raises at run time.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np


def is_concrete(*arrays: Any) -> bool:
    """True when no argument is a JAX tracer (so its values can be inspected)."""
    leaves = jax.tree_util.tree_leaves(arrays)
    return not any(isinstance(a, jax.core.Tracer) for a in leaves)


def check_ndim(who: str, name: str, x: Any, ndim: int, meaning: str) -> None:
    if jnp.ndim(x) != ndim:
        raise ValueError(
            f"{who} got {name} of shape {tuple(jnp.shape(x))}, expected a "
            f"{ndim}-D array {meaning}."
        )


def check_shape(who: str, name: str, x: Any, expected: tuple, meaning: str = "") -> None:
    shape = tuple(jnp.shape(x))
    if shape != tuple(expected):
        extra = f" ({meaning})" if meaning else ""
        raise ValueError(
            f"{who} got {name} of shape {shape}, expected {tuple(expected)}{extra}."
        )


def float_dtype(*arrays: Any):
    """The floating dtype the computation should run in."""
    return jnp.result_type(*[jnp.asarray(a) for a in arrays], jnp.zeros(()).dtype)


def observation_mask(who: str, obs: jax.Array, mask: Any) -> jax.Array:
    """Boolean mask of observed entries; validated against `obs`.

    With `mask=None` the observed entries are the finite ones. With a mask, every
    entry it marks as observed must be finite.
    """
    if mask is None:
        return jnp.isfinite(obs)
    mask = jnp.asarray(mask)
    check_shape(who, "mask", mask, jnp.shape(obs), "one entry per observation")
    mask = mask.astype(bool)
    bad = mask & ~jnp.isfinite(obs)
    if is_concrete(obs, mask):
        if bool(jnp.any(bad)):
            idx = tuple(int(i) for i in np.argwhere(np.asarray(bad))[0])
            raise ValueError(
                f"{who} got a non-finite obs at index {idx} where mask marks it "
                f"observed ({int(jnp.sum(bad))} such entries); set mask to False "
                "there or provide a finite value."
            )
        return mask
    return eqx.error_if(
        mask, jnp.any(bad), f"{who}: non-finite obs where mask marks it observed."
    )


def check_covariance(who: str, name: str, op: Any, size: int | None = None) -> None:
    """A covariance must be a PSD-tagged square lineax operator of the right size."""
    if not isinstance(op, lx.AbstractLinearOperator):
        raise TypeError(
            f"{who} got {name} of type {type(op).__name__}, expected a lineax "
            "operator tagged positive semidefinite; build one with "
            "vdx.diagonal_covariance(variances) or vdx.dense_covariance(matrix)."
        )
    if not lx.is_positive_semidefinite(op):
        raise TypeError(
            f"{who} got {name} = {type(op).__name__} without the positive-"
            "semidefinite tag, expected a PSD-tagged operator; wrap it with "
            "lx.TaggedLinearOperator(op, lx.positive_semidefinite_tag) or build it "
            "with vdx.diagonal_covariance / vdx.dense_covariance."
        )
    n_in, n_out = op.in_size(), op.out_size()
    if n_in != n_out:
        raise ValueError(
            f"{who} got {name} mapping size {n_in} to {n_out}, expected a square "
            "covariance."
        )
    if size is not None and n_in != size:
        raise ValueError(
            f"{who} got {name} of shape ({n_in}, {n_in}), expected ({size}, {size})."
        )
