"""Run a forward model for many steps as one `lax.scan`, or over an assimilation window."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import Index, cast_floating, check_forward, check_state, index_at_least, positive_parameter
from .base import stepper

__all__ = ["rollout", "window"]


def _prepare(who: str, model: Any, x0: Any) -> tuple[Any, jax.Array]:
    """Check the model and `x0`; cast the model's floating arrays to `x0`'s dtype (the output's)."""
    check_forward(who, model)
    x0 = check_state(who, "x0", model, x0)
    return cast_floating(model, x0.dtype), x0


def rollout(
    model: Any, x0: Real[ArrayLike, " n"], n_steps: Index, dt: Real[ArrayLike, ""] | None = None
) -> Float[Array, "n_steps n"]:
    """Trajectory $x_1, \\dots, x_{n}$ with $x_{k+1} = M(x_k)$, compiled as a `lax.scan`.

    Arguments:
        model: any `ForwardModel`.
        x0: the initial state, shape `model.state_signature.shape`, finite.
        n_steps: number of steps, an integer (Python or NumPy) of at least 1.
        dt: step length, > 0; `model.dt` by default.

    Returns:
        An `(n_steps, n)` array in the dtype of `x0`, whose row `k` is the state
        after `k + 1` steps (`x0` itself is not included).
    """
    n_steps = index_at_least("rollout", "n_steps", n_steps, 1)
    model, x0 = _prepare("rollout", model, x0)
    dt = model.dt if dt is None else positive_parameter("rollout", "dt")(dt)
    return _rollout(model, x0, n_steps, dt)


@eqx.filter_jit
def _rollout(model, x0, n_steps, dt):
    step = stepper(model)

    def body(x, _):
        x = step(x, dt)
        return x, x

    _, traj = jax.lax.scan(body, x0, None, length=n_steps)
    return traj


def window(
    model: Any, x0: Real[ArrayLike, " n"], n_times: Index, adjoint: Any = None
) -> Float[Array, "n_times n"]:
    """The states $x_0, M(x_0), \\dots, M^{T-1}(x_0)$ of an assimilation window (row 0 is `x0`).

    Arguments:
        model: any `ForwardModel` (for a diffrax `adjoint`, one with
            `vector_field` and a diffrax integrator, as the library's models).
        x0: the state at the window's first time.
        n_times: number of times $T \\ge 1$ (an integer, Python or NumPy).
        adjoint: how the window is differentiated:
            - `None`: a `lax.scan` of the model's step, differentiated by JAX
              directly (reverse mode stores each step's intermediate stages,
              the fastest option; forward mode works too);
            - a diffrax adjoint (`diffrax.RecursiveCheckpointAdjoint()`,
              `diffrax.BacksolveAdjoint()`, `diffrax.DirectAdjoint()`,
              `diffrax.ForwardMode()`): `diffrax.diffeqsolve` of
              `model.vector_field` with the model's `diffrax_integrator()`,
              saving at the window's times.
    """
    n_times = index_at_least("window", "n_times", n_times, 1)
    if adjoint is not None:
        import diffrax as dfx

        if not isinstance(adjoint, dfx.AbstractAdjoint):
            raise TypeError(
                f"window got adjoint of type {type(adjoint).__name__}, expected None or a diffrax adjoint "
                "(e.g. diffrax.RecursiveCheckpointAdjoint())."
            )
    model, x0 = _prepare("window", model, x0)
    return trajectory(model, x0, n_times, adjoint)


def _vector_field_in_steps(s: Any, y: jax.Array, model: Any) -> jax.Array:
    """The model's vector field in units of model steps, s = t / dt.

    The model travels as diffrax's `args`, not in a closure: BacksolveAdjoint
    cannot differentiate (or even trace) arrays a vector field closes over, and
    the model's parameters are arrays. Defined once, at module level, so that
    the trace of a solve (diffrax caches it by vector field) is reused from one
    call of `trajectory` to the next: a window traced three times costs about
    half the tracing time of three fresh closures.
    """
    return model.dt * model.vector_field(s * model.dt, y, None)


def trajectory(model: Any, x0: jax.Array, n_times: int, adjoint: Any = None) -> jax.Array:
    """`window` without the checks, for the methods (which check their inputs once)."""
    if n_times == 1:
        return x0[None]
    if adjoint is None:
        return jnp.concatenate([x0[None], _rollout(model, x0, n_times - 1, model.dt)])
    import diffrax as dfx

    from .integrators import diffrax_integrator

    solver, substeps = diffrax_integrator(model)

    # Integrate in units of model steps, s = t / dt, so that the observation
    # times are the integers 0..T-1 and every step ends exactly on one. In
    # physical time, k * dt is rounded (0.05 is not a binary fraction) and the
    # save times fall a hair away from the step ends; BacksolveAdjoint then
    # takes uneven extra steps between save points and its gradient is wrong
    # well beyond the continuous-adjoint error.
    # t0 and t1 are taken from the array of save times: given as Python floats,
    # RecursiveCheckpointAdjoint's gradient drifted from DirectAdjoint's (diffrax 0.7).
    ts = jnp.arange(n_times, dtype=x0.dtype)
    sol = dfx.diffeqsolve(
        dfx.ODETerm(_vector_field_in_steps),
        solver,
        t0=ts[0],
        t1=ts[-1],
        dt0=jnp.asarray(1.0 / substeps, x0.dtype),
        y0=x0,
        args=model,
        saveat=dfx.SaveAt(ts=ts),
        stepsize_controller=dfx.ConstantStepSize(),
        adjoint=adjoint,
        max_steps=(n_times - 1) * substeps + 1,
    )
    return sol.ys
