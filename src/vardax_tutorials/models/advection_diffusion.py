"""1-D periodic advection-diffusion, integrated with diffrax.

$\\partial_t c + u\\,\\partial_x c = \\kappa\\,\\partial_{xx} c$ on a periodic domain
of length $L$, discretised spectrally: each Fourier mode $k$ obeys
$\\dot{\\hat c}_k = (-iuk - \\kappa k^2)\\hat c_k$, so a mode is advected at speed
$u$ and decays like $e^{-\\kappa k^2 t}$, and the mean (the mass) is conserved
exactly. One `step` is a `diffrax.diffeqsolve` over $[0, dt]$ in `n_substeps`
fixed steps of the solver held as a field, differentiated with the diffrax
adjoint held as a field (`DirectAdjoint` by default, which supports both
forward mode, for tangent-linear models, and reverse mode, for gradients).
"""

from __future__ import annotations

import math
from typing import Any

import diffrax as dfx
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import Index, finite_parameter, index_at_least, positive_parameter
from .base import AbstractODEModel

__all__ = ["AdvectionDiffusion"]


class AdvectionDiffusion(AbstractODEModel):
    """Periodic 1-D advection-diffusion of a tracer, a `ForwardModel` stepped by diffrax.

    Arguments:
        n: number of grid points.
        length: domain length $L > 0$.
        velocity: advection speed $u$.
        kappa: diffusivity $\\kappa \\ge 0$.
        dt: time between two states.
        solver: a diffrax solver (`dfx.Tsit5()` by default).
        n_substeps: fixed solver steps per `step` (explicit solvers need
            $\\kappa k_{max}^2 dt / n$ and $u k_{max} dt / n$ of order 1 or less).
        adjoint: the diffrax adjoint used when differentiating a step.

    `length`, `velocity`, `kappa` and `dt` are arrays: differentiable, and a new
    value does not recompile.
    """

    n: Index = eqx.field(default=64, static=True, converter=lambda n: index_at_least("AdvectionDiffusion", "n", n, 4))
    length: Float[Array, ""] = eqx.field(default=2 * math.pi, converter=positive_parameter("AdvectionDiffusion", "length"))
    velocity: Float[Array, ""] = eqx.field(default=1.0, converter=finite_parameter("AdvectionDiffusion", "velocity"))
    kappa: Float[Array, ""] = eqx.field(
        default=0.05, converter=positive_parameter("AdvectionDiffusion", "kappa", allow_zero=True)
    )
    dt: Float[Array, ""] = eqx.field(default=0.1, converter=positive_parameter("AdvectionDiffusion", "dt"))
    solver: dfx.AbstractSolver = dfx.Tsit5()
    n_substeps: Index = eqx.field(
        default=10, static=True, converter=lambda k: index_at_least("AdvectionDiffusion", "n_substeps", k, 1)
    )
    adjoint: dfx.AbstractAdjoint = dfx.DirectAdjoint()

    @property
    def state_size(self) -> int:
        return self.n

    @property
    def grid(self) -> Float[Array, " n"]:
        """Grid-point positions $x_i = iL/n$."""
        return jnp.arange(self.n) * (self.length / self.n)

    @property
    def wavenumbers(self) -> Float[Array, " k"]:
        """Angular wavenumbers $k$ of the real FFT, $2\\pi j / L$."""
        return (2 * jnp.pi / self.length) * jnp.arange(self.n // 2 + 1)

    def tendency(self, state: Float[Array, " n"]) -> Float[Array, " n"]:
        k = self.wavenumbers
        c_hat = jnp.fft.rfft(state)
        return jnp.fft.irfft((-1j * self.velocity * k - self.kappa * k**2) * c_hat, n=self.n).astype(state.dtype)

    def advance(self, state: Float[Array, " n"], dt: Any) -> Float[Array, " n"]:
        """Integrate over one interval of length `dt` with diffrax (`n_substeps` fixed steps)."""
        sol = dfx.diffeqsolve(
            dfx.ODETerm(self.vector_field),
            self.solver,
            t0=jnp.zeros_like(dt),
            t1=dt,
            dt0=dt / self.n_substeps,
            y0=state,
            stepsize_controller=dfx.ConstantStepSize(),
            max_steps=self.n_substeps,
            adjoint=self.adjoint,
            saveat=dfx.SaveAt(t1=True),
        )
        return sol.ys[-1]

    def diffrax_integrator(self) -> tuple[dfx.AbstractSolver, int]:
        """`(solver, substeps)`: `diffrax.diffeqsolve` with `solver` and a constant step `dt / substeps` reproduces `step`."""
        return self.solver, self.n_substeps

    def exact_solution(self, state: Float[Array, " n"], t: Real[ArrayLike, ""]) -> Float[Array, " n"]:
        """The exact evolution of the discretised system over time `t`, mode by mode."""
        k = self.wavenumbers
        c_hat = jnp.fft.rfft(state) * jnp.exp((-1j * self.velocity * k - self.kappa * k**2) * t)
        return jnp.fft.irfft(c_hat, n=self.n).astype(state.dtype)
