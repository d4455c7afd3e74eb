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
    """True when no argument is a JAX tracer (so its values can be inspected).

    Inspect concrete values with NumPy (`np.asarray`), never with `jnp`: inside
    a `jax.jit` trace even a concrete array captured from outside turns into a
    tracer as soon as a `jnp` function touches it.
    """
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
    if is_concrete(obs, mask):
        bad_np = np.asarray(mask) & ~np.isfinite(np.asarray(obs))
        if bad_np.any():
            idx = tuple(int(i) for i in np.argwhere(bad_np)[0])
            raise ValueError(
                f"{who} got a non-finite obs at index {idx} where mask marks it "
                f"observed ({int(bad_np.sum())} such entries); set mask to False "
                "there or provide a finite value."
            )
        return mask
    bad = mask & ~jnp.isfinite(obs)
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


def check_obs_operator(who: str, obs_op: Any) -> None:
    from .protocols import ObservationOperator

    if not isinstance(obs_op, ObservationOperator):
        raise TypeError(
            f"{who} got obs_op of type {type(obs_op).__name__}, expected an "
            "ObservationOperator (with __call__(state, mask=None) and linearize(state))."
        )


def prepare_analysis(who: str, obs_op: Any, state_size: int, obs_size: int, background: Any, obs: Any, mask: Any):
    """Validate one analysis' inputs; return `(background, obs, mask)` in a common float dtype.

    Checks: background `(state_size,)`, obs `(obs_size,)`, `obs_op` maps the
    background to the shape of `obs`, and `obs` is finite where `mask` is True.
    """
    background = jnp.asarray(background)
    obs = jnp.asarray(obs)
    check_shape(who, "background", background, (state_size,), "the size of prior_cov")
    check_shape(who, "obs", obs, (obs_size,), "the size of obs_cov")
    out = jax.eval_shape(obs_op, background)
    if jax.tree_util.tree_structure(out) != jax.tree_util.tree_structure(obs) or out.shape != obs.shape:
        raise ValueError(
            f"{who} got obs of shape {obs.shape}, but obs_op maps the state to shape "
            f"{getattr(out, 'shape', out)}: one entry per row of the observation operator."
        )
    return _common_dtype_and_mask(who, background, obs, mask)


def _common_dtype_and_mask(who: str, background: jax.Array, obs: jax.Array, mask: Any):
    """Refuse a non-finite background; cast both to one float dtype; validate the mask."""
    if is_concrete(background) and not np.all(np.isfinite(np.asarray(background))):
        raise ValueError(f"{who} got a non-finite background; expected finite values everywhere.")
    dtype = float_dtype(background, obs)
    mask = observation_mask(who, obs, mask)
    return background.astype(dtype), obs.astype(dtype), mask


def initial_point(who: str, background: jax.Array, init: Any) -> jax.Array:
    """The minimiser's starting point: `init` (checked to be one state) or the background."""
    if init is None:
        return background
    x0 = jnp.asarray(init, background.dtype)
    check_shape(who, "init", x0, background.shape, "one state")
    return x0


def prepare_window(who: str, forward: Any, obs_op: Any, state_size: int, obs_size: int, background: Any, obs: Any, mask: Any):
    """Validate a 4DVar window; return `(background, obs, mask)` in a common float dtype.

    `obs` is `(T, m)` with NaN where missing (row t observes the state after t
    steps); `mask` is `None` or `(T, m)` booleans; the background is `(n,)`.
    """
    check_forward(who, forward)
    background = jnp.asarray(background)
    obs = jnp.asarray(obs)
    check_shape(who, "background", background, (state_size,), "the size of prior_cov")
    model_shape = tuple(forward.state_signature.shape)
    if model_shape != (state_size,):
        raise ValueError(
            f"{who} got a forward model with states of shape {model_shape}, but prior_cov is "
            f"({state_size}, {state_size})."
        )
    if obs.ndim != 2 or obs.shape[0] < 1:
        raise ValueError(
            f"{who} got obs of shape {obs.shape}, expected a non-empty window (T, {obs_size}): "
            "one row per time, row t observing the state after t forward steps."
        )
    check_shape(who, "obs", obs, (obs.shape[0], obs_size), "(T, m), m the size of obs_cov")
    out = jax.eval_shape(obs_op, background)
    if getattr(out, "shape", None) != (obs_size,):
        raise ValueError(
            f"{who} got obs rows of length {obs_size}, but obs_op maps the state to shape "
            f"{getattr(out, 'shape', out)}."
        )
    return _common_dtype_and_mask(who, background, obs, mask)


def check_int_at_least(who: str, name: str, value: Any, low: int) -> None:
    """`value` must be an int (not a bool) >= `low`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{who} got {name}={value!r}, expected an integer >= {low}.")


def check_minimiser(who: str, minimiser: Any) -> None:
    """`None`, an optimistix minimiser or an optimistix least-squares solver."""
    import optimistix as optx

    if minimiser is not None and not isinstance(minimiser, (optx.AbstractMinimiser, optx.AbstractLeastSquaresSolver)):
        raise TypeError(
            f"{who} got minimiser of type {type(minimiser).__name__}, expected an "
            "optimistix minimiser (e.g. optx.BFGS) or least-squares solver (e.g. optx.GaussNewton)."
        )


def check_forward(who: str, forward: Any) -> None:
    from .protocols import ForwardModel

    if not isinstance(forward, ForwardModel):
        raise TypeError(f"{who} got forward of type {type(forward).__name__}, expected a ForwardModel.")


def check_minimiser_adjoint(who: str, adjoint: Any) -> None:
    """An optimistix adjoint (`optx.ImplicitAdjoint()`, `vdx.KStepAdjoint(k)`, ...)."""
    import optimistix as optx

    if not isinstance(adjoint, optx.AbstractAdjoint):
        raise TypeError(
            f"{who} got minimiser_adjoint of type {type(adjoint).__name__}, expected an optimistix "
            "adjoint such as optx.ImplicitAdjoint() or vdx.KStepAdjoint(k)."
        )
