"""Shared machinery of the library's forward models: checked steps, RK4 and the vector field.

`AbstractModel` is any discrete model (`LinearModel`). Each ODE model is an
`eqx.Module` that defines its tendency $f(x) = dx/dt$; the
base class turns it into a classical fourth-order Runge-Kutta `step` (the
`ForwardModel` protocol) and into a diffrax vector field `vector_field(t, y,
args)`, so the same model can be integrated by `rollout` or by
`diffrax.diffeqsolve` under any of diffrax's adjoints.

`step(state, dt)` checks its arguments (the state's shape, `dt > 0`) and then
calls `advance(state, dt)`, which only computes. `rollout` and `window` check
once and then loop over `advance`, so that no check runs inside a time loop
(an `eqx.error_if` in a scanned step costs about half as much again as the
step itself in reverse mode).
"""


import abc
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import check_shape, default_float, positive_parameter, to_array

__all__ = ["AbstractModel", "AbstractODEModel", "AbstractRK4Model", "rk4_step", "stepper"]


def rk4_step(
    f: Callable[[Float[Array, " n"]], Float[Array, " n"]], x: Float[Array, " n"], dt: Any
) -> Float[Array, " n"]:
    """One classical Runge-Kutta step of $\\dot x = f(x)$ (local error $O(dt^5)$)."""
    k1 = f(x)
    k2 = f(x + 0.5 * dt * k1)
    k3 = f(x + 0.5 * dt * k2)
    k4 = f(x + dt * k3)
    return x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


class AbstractModel(eqx.Module):
    """A discrete forward model $x_{t+1} = M(x_t)$ with a checked `step` and an unchecked `advance`.

    Subclasses set the field `dt` and implement `state_size` and
    `advance(state, dt)` (one step, no checks). A model whose step does not
    depend on `dt` (a discrete map) sets `uses_dt = False`: its `step` then
    ignores the `dt` argument instead of checking it.
    """

    dt: eqx.AbstractVar[Any]
    uses_dt: ClassVar[bool] = True

    @property
    @abc.abstractmethod
    def state_size(self) -> int:
        """Number of state variables."""

    @property
    def state_signature(self) -> jax.ShapeDtypeStruct:
        """Shape and dtype of one state (the dtype follows JAX's x64 flag)."""
        return jax.ShapeDtypeStruct((self.state_size,), default_float())

    @abc.abstractmethod
    def advance(self, state: Float[Array, " n"], dt: Any) -> Float[Array, " n"]:
        """One step of length `dt` without argument checks (what time loops call)."""

    def step(self, state: Real[ArrayLike, " n"], dt: Real[ArrayLike, ""] | None = None) -> Float[Array, " n"]:
        """Advance `state` by `dt` (default `self.dt`), after checking the state's shape and `dt > 0`."""
        who = f"{type(self).__name__}.step"
        state = to_array(state)
        check_shape(who, "state", state, (self.state_size,), "one model state")
        if dt is None or not self.uses_dt:
            dt = self.dt
        else:
            dt = positive_parameter(who, "dt")(dt)
        return self.advance(state, dt)


class AbstractODEModel(AbstractModel):
    """An autonomous ODE $\\dot x = f(x)$ with a discrete `step`.

    Subclasses set the field `dt` and implement `tendency(state)`,
    `state_size` and `advance(state, dt)` (one step, no checks).
    """

    dt: eqx.AbstractVar[Any]

    @abc.abstractmethod
    def tendency(self, state: Float[Array, " n"]) -> Float[Array, " n"]:
        """The right-hand side $f(x)$."""

    def vector_field(self, t: Any, y: Float[Array, " n"], args: Any) -> Float[Array, " n"]:
        """The tendency in diffrax's `(t, y, args)` convention (`diffrax.ODETerm(model.vector_field)`)."""
        del t, args
        return self.tendency(y)


class AbstractRK4Model(AbstractODEModel):
    """An ODE model whose `step` is one classical RK4 step."""

    def advance(self, state: Float[Array, " n"], dt: Any) -> Float[Array, " n"]:
        """One RK4 step of length `dt`."""
        return rk4_step(self.tendency, state, dt)


def stepper(model: Any) -> Callable[[Any, Any], Any]:
    """The function a time loop calls: `model.advance` for the library's models, else `model.step`."""
    return model.advance if isinstance(model, AbstractModel) else model.step
