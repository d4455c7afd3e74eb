"""The Lorenz-63 and Lorenz-96 systems, the standard test beds of DA.

Lorenz (1963) is a three-variable truncation of Rayleigh-Bénard convection with
a chaotic attractor; Lorenz (1996) is a ring of $n$ variables with advection,
damping and forcing that behaves like an atmospheric latitude circle; its
two-level version couples each slow variable to a ring of fast ones, the
classic test of unresolved scales (Wilks 2005).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._checks import Index, finite_parameter, index_at_least, positive_parameter
from .base import AbstractRK4Model

__all__ = ["Lorenz63", "Lorenz96", "Lorenz96TwoLevel"]


def _finite(who: str, name: str, default: float):
    return eqx.field(default=default, converter=finite_parameter(who, name))


def _positive(who: str, name: str, default: float):
    return eqx.field(default=default, converter=positive_parameter(who, name))


class Lorenz63(AbstractRK4Model):
    """Lorenz-63: $\\dot x=\\sigma(y-x)$, $\\dot y=x(\\rho-z)-y$, $\\dot z=xy-\\beta z$.

    Arguments:
        sigma, rho, beta: the classical parameters (10, 28, 8/3 give chaos).
        dt: the RK4 step length (0.01 model time units by default).

    The parameters are stored as arrays (differentiable; a new value does not
    recompile), checked finite (and `dt > 0`) eagerly or with `eqx.error_if`.
    """

    sigma: Float[Array, ""] = _finite("Lorenz63", "sigma", 10.0)
    rho: Float[Array, ""] = _finite("Lorenz63", "rho", 28.0)
    beta: Float[Array, ""] = _finite("Lorenz63", "beta", 8.0 / 3.0)
    dt: Float[Array, ""] = _positive("Lorenz63", "dt", 0.01)

    @property
    def state_size(self) -> int:
        return 3

    def tendency(self, state: Float[Array, " 3"]) -> Float[Array, " 3"]:
        x, y, z = state[0], state[1], state[2]
        return jnp.stack(
            [self.sigma * (y - x), x * (self.rho - z) - y, x * y - self.beta * z]
        )

    def fixed_points(self) -> Float[Array, "3 3"]:
        """The three equilibria: the origin and $(\\pm c, \\pm c, \\rho-1)$, $c=\\sqrt{\\beta(\\rho-1)}$."""
        c = jnp.sqrt(jnp.maximum(self.beta * (self.rho - 1.0), 0.0))
        zero = jnp.zeros_like(c)
        return jnp.stack([
            jnp.stack([zero, zero, zero]),
            jnp.stack([c, c, self.rho - 1.0]),
            jnp.stack([-c, -c, self.rho - 1.0]),
        ])


class Lorenz96(AbstractRK4Model):
    """Lorenz-96: $\\dot x_i = (x_{i+1} - x_{i-2})x_{i-1} - x_i + F$, periodic in $i$.

    Arguments:
        n: number of variables (at least 4).
        F: the forcing (8 gives chaos with about 13 positive Lyapunov exponents for n=40).
        dt: the RK4 step length (0.05 time units, about 6 hours of weather).

    `F` and `dt` are arrays (differentiable, no recompilation for a new value).
    """

    n: Index = eqx.field(default=40, static=True, converter=lambda n: index_at_least("Lorenz96", "n", n, 4))
    F: Float[Array, ""] = _finite("Lorenz96", "F", 8.0)
    dt: Float[Array, ""] = _positive("Lorenz96", "dt", 0.05)

    @property
    def state_size(self) -> int:
        return self.n

    def tendency(self, state: Float[Array, " n"]) -> Float[Array, " n"]:
        return (jnp.roll(state, -1) - jnp.roll(state, 2)) * jnp.roll(state, 1) - state + self.F


class Lorenz96TwoLevel(AbstractRK4Model):
    """Two-scale Lorenz-96 (Lorenz 1996; parameters of Wilks 2005).

    Slow $X_k$ ($k = 1..K$) and fast $Y_{j,k}$ ($j = 1..J$), with

        dX_k/dt = X_{k-1}(X_{k+1} - X_{k-2}) - X_k + F - (h c / b) sum_j Y_{j,k}
        dY_{j,k}/dt = c b Y_{j+1,k}(Y_{j-1,k} - Y_{j+2,k}) - c Y_{j,k} + (h c / b) X_k

    where the fast variables form one periodic ring of length $KJ$. The state is
    `concatenate([X, Y.ravel()])` of size $K + KJ$; `split(state)` undoes it.

    Arguments:
        K, J: numbers of slow variables and of fast variables per slow one.
        F: forcing; h: coupling; b: spatial-scale ratio; c: time-scale ratio.
        dt: RK4 step (the fast scale needs a small one; 0.005 is stable).
    """

    K: Index = eqx.field(default=8, static=True, converter=lambda k: index_at_least("Lorenz96TwoLevel", "K", k, 4))
    J: Index = eqx.field(default=32, static=True, converter=lambda j: index_at_least("Lorenz96TwoLevel", "J", j, 4))
    F: Float[Array, ""] = _finite("Lorenz96TwoLevel", "F", 20.0)
    h: Float[Array, ""] = _finite("Lorenz96TwoLevel", "h", 1.0)
    b: Float[Array, ""] = _positive("Lorenz96TwoLevel", "b", 10.0)
    c: Float[Array, ""] = _finite("Lorenz96TwoLevel", "c", 10.0)
    dt: Float[Array, ""] = _positive("Lorenz96TwoLevel", "dt", 0.005)

    @property
    def state_size(self) -> int:
        return self.K + self.K * self.J

    def split(self, state: Float[Array, " n"]) -> tuple[Float[Array, " K"], Float[Array, "K J"]]:
        """`(X, Y)` with `Y` of shape `(K, J)`."""
        return state[: self.K], state[self.K :].reshape(self.K, self.J)

    def tendency(self, state: Float[Array, " n"]) -> Float[Array, " n"]:
        X, Y = state[: self.K], state[self.K :]
        coupling = self.h * self.c / self.b
        dX = jnp.roll(X, 1) * (jnp.roll(X, -1) - jnp.roll(X, 2)) - X + self.F
        dX = dX - coupling * Y.reshape(self.K, self.J).sum(axis=1)
        dY = self.c * self.b * jnp.roll(Y, -1) * (jnp.roll(Y, 1) - jnp.roll(Y, -2)) - self.c * Y
        dY = dY + coupling * jnp.repeat(X, self.J)
        return jnp.concatenate([dX, dY])
