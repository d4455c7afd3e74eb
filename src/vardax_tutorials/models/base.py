"""Shared machinery of the library's forward models: RK4 and the vector field.

Each model is an `eqx.Module` that defines its tendency $f(x) = dx/dt$; the
base class turns it into a classical fourth-order Runge-Kutta `step` (the
`ForwardModel` protocol) and into a diffrax vector field `vector_field(t, y,
args)`, so the same model can be integrated by `rollout` or by
`diffrax.diffeqsolve` under any of diffrax's adjoints.
"""

from __future__ import annotations

import abc
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["AbstractODEModel", "AbstractRK4Model", "rk4_step"]


def rk4_step(
    f: Callable[[Float[Array, " n"]], Float[Array, " n"]], x: Float[Array, " n"], dt: Any
) -> Float[Array, " n"]:
    """One classical Runge-Kutta step of $\\dot x = f(x)$ (local error $O(dt^5)$)."""
    k1 = f(x)
    k2 = f(x + 0.5 * dt * k1)
    k3 = f(x + 0.5 * dt * k2)
    k4 = f(x + dt * k3)
    return x + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


class AbstractODEModel(eqx.Module):
    """An autonomous ODE $\\dot x = f(x)$ with a discrete `step`.

    Subclasses set the field `dt` and implement `tendency(state)`,
    `state_size` and `step(state, dt)`.
    """

    dt: eqx.AbstractVar[float]

    @abc.abstractmethod
    def tendency(self, state: Float[Array, " n"]) -> Float[Array, " n"]:
        """The right-hand side $f(x)$."""

    @property
    @abc.abstractmethod
    def state_size(self) -> int:
        """Number of state variables."""

    @property
    def state_signature(self) -> jax.ShapeDtypeStruct:
        """Shape and dtype of one state (the dtype follows JAX's x64 flag)."""
        return jax.ShapeDtypeStruct((self.state_size,), jnp.zeros(()).dtype)

    @abc.abstractmethod
    def step(self, state: Float[Array, " n"], dt: Any = None) -> Float[Array, " n"]:
        """Advance `state` by `dt` (default `self.dt`)."""

    def vector_field(self, t: Any, y: Float[Array, " n"], args: Any) -> Float[Array, " n"]:
        """The tendency in diffrax's `(t, y, args)` convention (`diffrax.ODETerm(model.vector_field)`)."""
        del t, args
        return self.tendency(y)


class AbstractRK4Model(AbstractODEModel):
    """An ODE model whose `step` is one classical RK4 step."""

    def step(self, state: Float[Array, " n"], dt: Any = None) -> Float[Array, " n"]:
        """Advance `state` by one RK4 step of length `dt` (default `self.dt`)."""
        return rk4_step(self.tendency, state, self.dt if dt is None else dt)
