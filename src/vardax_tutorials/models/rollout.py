"""Run a forward model for many steps as one `lax.scan`."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._checks import check_shape
from ..protocols import ForwardModel

__all__ = ["rollout", "window"]


def rollout(
    model: ForwardModel, x0: Float[ArrayLike, " n"], n_steps: int, dt: Any = None
) -> Float[Array, "n_steps n"]:
    """Trajectory $x_1, \\dots, x_{n}$ with $x_{k+1} = M(x_k)$, compiled as a `lax.scan`.

    Arguments:
        model: any `ForwardModel`.
        x0: the initial state, shape `model.state_signature.shape`.
        n_steps: number of steps, at least 1.
        dt: step length; `model.dt` by default.

    Returns:
        An `(n_steps, n)` array whose row `k` is the state after `k + 1` steps
        (`x0` itself is not included).
    """
    if not isinstance(model, ForwardModel):
        raise TypeError(
            f"rollout got model of type {type(model).__name__}, expected a ForwardModel "
            "(with step(state, dt), dt and state_signature)."
        )
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"rollout got n_steps={n_steps!r}, expected an integer >= 1.")
    x0 = jnp.asarray(x0)
    check_shape("rollout", "x0", x0, model.state_signature.shape, "one model state")
    if not jnp.issubdtype(x0.dtype, jnp.floating):
        x0 = x0.astype(model.state_signature.dtype)
    return _rollout(model, x0, n_steps, model.dt if dt is None else dt)


@eqx.filter_jit
def _rollout(model, x0, n_steps, dt):
    def body(x, _):
        x = model.step(x, dt)
        return x, x

    _, traj = jax.lax.scan(body, x0, None, length=n_steps)
    return traj


def window(
    model: ForwardModel, x0: Float[Array, " n"], n_times: int, adjoint: Any = None
) -> Float[Array, "n_times n"]:
    """The states $x_0, M(x_0), \\dots, M^{T-1}(x_0)$ of an assimilation window (row 0 is `x0`).

    How it is differentiated is chosen by `adjoint`:
    - `None`: a `lax.scan` of `model.step`, differentiated by JAX directly
      (reverse mode stores each step's intermediate stages, the fastest option;
      forward mode works too);
    - a diffrax adjoint (`diffrax.RecursiveCheckpointAdjoint()`,
      `diffrax.BacksolveAdjoint()`, `diffrax.DirectAdjoint()`,
      `diffrax.ForwardMode()`): `diffrax.diffeqsolve` of `model.vector_field`
      with the model's `diffrax_integrator()`, saving at the window's times.
    """
    if n_times == 1:
        return x0[None]
    if adjoint is None:
        return jnp.concatenate([x0[None], _rollout(model, x0, n_times - 1, model.dt)])
    import diffrax as dfx

    from .integrators import diffrax_integrator

    solver, dt0 = diffrax_integrator(model)
    substeps = max(1, int(round(model.dt / dt0)))
    dt = model.dt

    # Integrate in units of model steps, s = t / dt, so that the observation
    # times are the integers 0..T-1 and every step ends exactly on one. In
    # physical time, k * dt is rounded (0.05 is not a binary fraction) and the
    # save times fall a hair away from the step ends; BacksolveAdjoint then
    # takes uneven extra steps between save points and its gradient is wrong
    # well beyond the continuous-adjoint error.
    def vector_field(s, y, args):
        return dt * model.vector_field(s * dt, y, args)

    # t0 and t1 are taken from the array of save times: given as Python floats,
    # RecursiveCheckpointAdjoint's gradient drifted from DirectAdjoint's (diffrax 0.7).
    ts = jnp.arange(n_times, dtype=x0.dtype)
    sol = dfx.diffeqsolve(
        dfx.ODETerm(vector_field),
        solver,
        t0=ts[0],
        t1=ts[-1],
        dt0=1.0 / substeps,
        y0=x0,
        saveat=dfx.SaveAt(ts=ts),
        stepsize_controller=dfx.ConstantStepSize(),
        adjoint=adjoint,
        max_steps=(n_times - 1) * substeps + 1,
    )
    return sol.ys
