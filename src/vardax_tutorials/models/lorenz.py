"""The Lorenz-63 and Lorenz-96 systems, the standard test beds of DA.

Lorenz (1963) is a three-variable truncation of Rayleigh-Bénard convection with
a chaotic attractor; Lorenz (1996) is a ring of $n$ variables with advection,
damping and forcing that behaves like an atmospheric latitude circle; its
two-level version couples each slow variable to a ring of fast ones, the
classic test of unresolved scales (Wilks 2005).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .base import AbstractRK4Model

__all__ = ["Lorenz63", "Lorenz96", "Lorenz96TwoLevel"]


def _check_positive(who: str, name: str, value: float) -> None:
    if not (math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{who} got {name}={value!r}, expected a finite value > 0.")


class Lorenz63(AbstractRK4Model):
    """Lorenz-63: $\\dot x=\\sigma(y-x)$, $\\dot y=x(\\rho-z)-y$, $\\dot z=xy-\\beta z$.

    Arguments:
        sigma, rho, beta: the classical parameters (10, 28, 8/3 give chaos).
        dt: the RK4 step length (0.01 model time units by default).
    """

    sigma: float = 10.0
    rho: float = 28.0
    beta: float = 8.0 / 3.0
    dt: float = 0.01

    def __check_init__(self):
        _check_positive("Lorenz63", "dt", self.dt)

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
        c = math.sqrt(self.beta * (self.rho - 1.0)) if self.rho > 1 else 0.0
        return jnp.array([[0.0, 0.0, 0.0], [c, c, self.rho - 1.0], [-c, -c, self.rho - 1.0]])


class Lorenz96(AbstractRK4Model):
    """Lorenz-96: $\\dot x_i = (x_{i+1} - x_{i-2})x_{i-1} - x_i + F$, periodic in $i$.

    Arguments:
        n: number of variables (at least 4).
        F: the forcing (8 gives chaos with about 13 positive Lyapunov exponents for n=40).
        dt: the RK4 step length (0.05 time units, about 6 hours of weather).
    """

    n: int = eqx.field(default=40, static=True)
    F: float = 8.0
    dt: float = 0.05

    def __check_init__(self):
        if not isinstance(self.n, int) or self.n < 4:
            raise ValueError(f"Lorenz96 got n={self.n!r}, expected an integer >= 4.")
        _check_positive("Lorenz96", "dt", self.dt)

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

    K: int = eqx.field(default=8, static=True)
    J: int = eqx.field(default=32, static=True)
    F: float = 20.0
    h: float = 1.0
    b: float = 10.0
    c: float = 10.0
    dt: float = 0.005

    def __check_init__(self):
        for name, value in (("K", self.K), ("J", self.J)):
            if not isinstance(value, int) or value < 4:
                raise ValueError(f"Lorenz96TwoLevel got {name}={value!r}, expected an integer >= 4.")
        _check_positive("Lorenz96TwoLevel", "dt", self.dt)

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
