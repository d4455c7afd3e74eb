"""Input validation shared by the public API.

Shape, type and argument checks are static and always run. Value checks (a
NaN where the mask says "observed", a non-positive variance, a sensitivity
outside [0, 1]) go through `check_values`: on concrete arrays, i.e. whenever
the library is called eagerly, it raises `ValueError` at once; when the values
are traced (inside `jax.jit`, `jax.vmap`, `jax.grad`, `eqx.filter_jit`) it
attaches `eqx.error_if` to the checked array, which raises the same message
when the compiled program runs. Under `eqx.filter_jit` that message is the
whole error; under plain `jax.jit` JAX wraps it in a `JaxRuntimeError` whose
text ends with it (and prints it first, after "jax.pure_callback failed").
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from types import ModuleType
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np


Index = int | np.integer
"""An integer argument: a Python or NumPy integer (not a bool)."""


def to_array(x: Any, dtype: Any = None) -> jax.Array:
    """`jnp.asarray(x, dtype)`, except that a NumPy array goes to JAX by `jax.device_put`.

    Both give the same array (same values, same canonical dtype), but eager
    `jnp.asarray` of a NumPy array compiles a small XLA program for every new
    shape and dtype (tens of milliseconds each), and readers pass NumPy arrays
    everywhere; `device_put` compiles nothing.
    """
    if isinstance(x, (np.ndarray, np.generic)):
        return jax.device_put(x if dtype is None else np.asarray(x, dtype))
    return jnp.asarray(x, dtype)


def is_concrete(*arrays: Any) -> bool:
    """True when no argument is a JAX tracer (so its values can be inspected).

    Inspect concrete values with NumPy (`np.asarray`), never with `jnp`: inside
    a `jax.jit` trace even a concrete array captured from outside turns into a
    tracer as soon as a `jnp` function touches it.
    """
    leaves = jax.tree_util.tree_leaves(arrays)
    return not any(isinstance(a, jax.core.Tracer) for a in leaves)


def inspect_with(*arrays: Any) -> ModuleType:
    """The array namespace to compute a check's `bad` mask with.

    NumPy when every argument is concrete and in host memory, so that an eager
    check compiles no XLA program (each small `jnp` operation on a new shape
    compiles one, about 50 ms on a laptop CPU); `jax.numpy` when any argument
    is traced, or lives on an accelerator (where NumPy would copy it back).
    """
    leaves = jax.tree_util.tree_leaves(arrays)
    if any(isinstance(a, jax.core.Tracer) for a in leaves):
        return jnp
    # An array on an accelerator is checked where it lives: NumPy would copy it to the host.
    on_host = all(not isinstance(a, jax.Array) or all(d.platform == "cpu" for d in a.devices()) for a in leaves)
    return np if on_host else jnp


def not_finite(x: Any) -> Any:
    """The `bad` mask of a value that must be finite."""
    return ~inspect_with(x).isfinite(x)


def not_finite_positive(x: Any, *, allow_zero: bool = False) -> Any:
    """The `bad` mask of a value that must be finite and > 0 (or >= 0)."""
    xp = inspect_with(x)
    v = xp.asarray(x)
    with np.errstate(invalid="ignore"):          # NaN compares False: it is caught by isfinite
        return ~xp.isfinite(v) | ((v < 0) if allow_zero else (v <= 0))


def outside_unit_interval(x: Any) -> Any:
    """The `bad` mask of a value that must lie in [0, 1]: True outside it or where not finite."""
    xp = inspect_with(x)
    v = xp.asarray(x)
    with np.errstate(invalid="ignore"):          # NaN compares False, so it counts as outside
        return ~((v >= 0) & (v <= 1))


def check_values(
    x: Any,
    bad: Any,
    message: str,
    *,
    detail: Callable[[np.ndarray], str] | None = None,
    error: type[Exception] = ValueError,
) -> Any:
    """Refuse `x` when any entry of the boolean array `bad` is True; return `x`.

    Eagerly (`bad` concrete) raise `error(message)` now, with `detail(bad)`
    appended when given (e.g. the first offending index). When `bad` is traced,
    return `eqx.error_if(x, any(bad), message)`: the caller must use the
    returned `x` so that the check runs with the compiled program.
    """
    if is_concrete(bad):
        bad_np = np.asarray(bad)
        if bad_np.any():
            raise error(message + (f" ({detail(bad_np)})" if detail is not None else ""))
        return x
    return eqx.error_if(x, jnp.any(bad), message)


def first_index(bad: np.ndarray) -> str:
    """`detail` for `check_values`: the first offending index and the count."""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    idx_str = str(idx[0]) if len(idx) == 1 else str(idx)
    return f"first at index {idx_str}, {int(bad.sum())} in all"


def check_finite(who: str, name: str, x: Any) -> Any:
    """`x` with every entry finite (see `check_values`)."""
    return check_values(
        x, not_finite(x), f"{who} got a non-finite {name}; expected finite values everywhere.", detail=first_index
    )


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


def default_float() -> np.dtype:
    """The default floating dtype: float64 with `jax_enable_x64`, float32 without."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def float_dtype(*arrays: Any) -> np.dtype:
    """The floating dtype of a computation on `arrays`: theirs, promoted; the default float for integers.

    Only the arguments set it (float32 in, float32 out, whatever the x64 flag),
    never the library's own constants.
    """
    # anything with a dtype (NumPy, JAX, tracers) is read as it is: no copy to the device to learn a dtype
    dtype = jnp.result_type(*[a if hasattr(a, "dtype") else jnp.asarray(a) for a in arrays])
    return dtype if jnp.issubdtype(dtype, jnp.floating) else default_float()


def as_float_array(x: Any, who: str, name: str) -> jax.Array:
    """`to_array(x)`, with integer and boolean input cast to the default float; complex input refused.

    Every value the library checks is real: a complex array would pass the
    range checks on its real part and then give complex (wrong) results.
    """
    x = check_real(who, name, to_array(x))
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(default_float())


def check_real(who: str, name: str, x: jax.Array | np.ndarray) -> jax.Array | np.ndarray:
    """`x` (a JAX or NumPy array), refused with a `TypeError` if it is complex."""
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"{who} got a complex {name} (dtype {x.dtype}); expected real values.")
    return x


def cast_floating(tree: Any, dtype: Any) -> Any:
    """Every real floating array leaf of `tree` cast to `dtype` (others untouched).

    The methods run in the precision of their inputs: a float64 covariance meeting a
    float32 background is cast to float32 (and vice versa), so the output dtype
    follows the input whatever the x64 flag.
    """

    def cast(leaf):
        if eqx.is_array(leaf) and jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.dtype != dtype:
            return leaf.astype(dtype)
        return leaf

    return jax.tree_util.tree_map(cast, tree)


def observation_mask(who: str, obs: jax.Array, mask: Any) -> jax.Array:
    """Boolean mask of observed entries; validated against `obs`.

    With `mask=None` the observed entries are the finite ones. With a mask, every
    entry it marks as observed must be finite.
    """
    xp = inspect_with(obs, mask)
    if mask is None:
        return to_array(xp.isfinite(obs))
    check_shape(who, "mask", mask, jnp.shape(obs), "one entry per observation")
    mask = xp.asarray(mask).astype(bool)
    bad = mask & ~xp.isfinite(obs)      # before jnp.asarray: under jit that makes a tracer of it
    return check_values(
        to_array(mask),
        bad,
        f"{who} got a non-finite obs where mask marks it observed; set mask to False there "
        "or provide a finite value.",
        detail=first_index,
    )


def index_at_least(who: str, name: str, value: Any, low: int) -> int:
    """`value` as a Python int, checked to be an integer (Python or NumPy, not bool) >= `low`."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{who} got {name}={value!r}, expected an integer >= {low}.")
    try:
        value_int = operator.index(value)
    except TypeError:
        raise ValueError(f"{who} got {name}={value!r}, expected an integer >= {low}.") from None
    if value_int < low:
        raise ValueError(f"{who} got {name}={value!r}, expected an integer >= {low}.")
    return value_int


def positive_parameter(who: str, name: str, *, allow_zero: bool = False) -> Callable[[Any], jax.Array]:
    """A field converter: the value as an array, checked finite and > 0 (or >= 0).

    Model and covariance parameters are arrays, not Python floats, so they can be
    differentiated and a new value does not recompile; this checks them eagerly
    or, when traced, with `eqx.error_if`.
    """
    bound = ">= 0" if allow_zero else "> 0"

    def convert(value: Any) -> jax.Array:
        x = as_float_array(value, who, name)
        bad = not_finite_positive(x, allow_zero=allow_zero)
        return check_values(x, bad, f"{who} got {name}={describe_value(value)}, expected a finite value {bound}.")

    return convert


def finite_parameter(who: str, name: str) -> Callable[[Any], jax.Array]:
    """A field converter: the value as an array, checked finite."""

    def convert(value: Any) -> jax.Array:
        x = as_float_array(value, who, name)
        return check_values(x, not_finite(x), f"{who} got {name}={describe_value(value)}, expected a finite value.")

    return convert


def describe_value(value: Any) -> str:
    """A short description of a parameter value for error messages (never a tracer's repr)."""
    if isinstance(value, jax.core.Tracer):
        return "a traced value"
    try:
        return repr(float(np.asarray(value))) if np.ndim(value) == 0 else f"an array of shape {np.shape(value)}"
    except (TypeError, ValueError):
        return repr(value)


def check_covariance(who: str, name: str, op: Any, size: int | None = None) -> None:
    """A covariance must be a PSD-tagged square lineax operator of the right size."""
    if not isinstance(op, lx.AbstractLinearOperator):
        raise TypeError(
            f"{who} got {name} of type {type(op).__name__}, expected a lineax operator "
            "tagged positive semidefinite; build one with "
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


def check_forward(who: str, forward: Any) -> None:
    from .protocols import ForwardModel

    if not isinstance(forward, ForwardModel):
        raise TypeError(
            f"{who} got forward of type {type(forward).__name__}, expected a ForwardModel "
            "(with step(state, dt), dt and state_signature)."
        )


def check_state(who: str, name: str, forward: Any, x: Any) -> jax.Array:
    """One finite model state of the shape `forward.state_signature` gives, as a float array."""
    x = as_float_array(x, who, name)
    check_shape(who, name, x, tuple(forward.state_signature.shape), "one model state")
    return check_finite(who, name, x)


def check_obs_shape(who: str, obs_op: Any, state: jax.Array, obs: jax.Array, obs_size: int) -> None:
    """`obs_op` must map `state` to one observation vector of length `obs_size`."""
    out = jax.eval_shape(obs_op, state)
    if getattr(out, "shape", None) != (obs_size,):
        raise ValueError(
            f"{who} got obs of shape {tuple(obs.shape)}, but obs_op maps the state to shape "
            f"{getattr(out, 'shape', out)}: one entry per row of the observation operator "
            f"(and of obs_cov, of size {obs_size})."
        )


def prepare_analysis(who: str, obs_op: Any, state_size: int, obs_size: int, background: Any, obs: Any, mask: Any):
    """Validate one analysis' inputs; return `(background, obs, mask)` in the inputs' float dtype.

    Checks: background `(state_size,)` and finite, obs `(obs_size,)`, `obs_op`
    maps the background to the shape of `obs`, and `obs` is finite where
    `mask` is True.
    """
    background, obs = to_array(background), to_array(obs)
    check_shape(who, "background", background, (state_size,), "the size of prior_cov")
    check_shape(who, "obs", obs, (obs_size,), "the size of obs_cov")
    check_obs_shape(who, obs_op, background, obs, obs_size)
    return _common_dtype_and_mask(who, background, obs, mask)


def prepare_window(who: str, forward: Any, obs_op: Any, state_size: int, obs_size: int, background: Any, obs: Any, mask: Any):
    """Validate a 4DVar window; return `(background, obs, mask)` in the inputs' float dtype.

    `obs` is `(T, m)` with NaN where missing (row t observes the state after t
    steps); `mask` is `None` or `(T, m)` booleans; the background is `(n,)`.
    """
    background, obs = to_array(background), to_array(obs)
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
    check_obs_shape(who, obs_op, background, obs[0], obs_size)
    return _common_dtype_and_mask(who, background, obs, mask)


def _common_dtype_and_mask(who: str, background: jax.Array, obs: jax.Array, mask: Any):
    """Refuse a complex or non-finite background; cast both to one float dtype; validate the mask."""
    background, obs = check_real(who, "background", background), check_real(who, "obs", obs)
    dtype = float_dtype(background, obs)
    background = check_finite(who, "background", background.astype(dtype))
    obs = obs.astype(dtype)
    mask = observation_mask(who, obs, mask)
    return background, obs, mask


def initial_point(who: str, background: jax.Array, init: Any) -> jax.Array:
    """The minimiser's starting point: `init` (checked to be one finite state) or the background."""
    if init is None:
        return background
    x0 = check_real(who, "init", to_array(init))
    check_shape(who, "init", x0, background.shape, "one state")
    return check_finite(who, "init", x0.astype(background.dtype))


def check_minimiser(who: str, minimiser: Any) -> None:
    """`None`, an optimistix minimiser or an optimistix least-squares solver."""
    import optimistix as optx

    if minimiser is not None and not isinstance(minimiser, (optx.AbstractMinimiser, optx.AbstractLeastSquaresSolver)):
        raise TypeError(
            f"{who} got minimiser of type {type(minimiser).__name__}, expected an "
            "optimistix minimiser (e.g. optx.BFGS) or least-squares solver (e.g. optx.GaussNewton)."
        )


def check_minimiser_adjoint(who: str, adjoint: Any, minimiser: Any) -> None:
    """An optimistix adjoint (`optx.ImplicitAdjoint()`, `vdx.KStepAdjoint(k)`, ...) that can serve `minimiser`."""
    import optimistix as optx

    from .adjoints import AbstractRestartAdjoint

    if not isinstance(adjoint, optx.AbstractAdjoint):
        raise TypeError(
            f"{who} got minimiser_adjoint of type {type(adjoint).__name__}, expected an optimistix "
            "adjoint such as optx.ImplicitAdjoint() or vdx.KStepAdjoint(k)."
        )
    if isinstance(adjoint, AbstractRestartAdjoint):
        adjoint.check_solver(who, minimiser)
