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
from jaxtyping import Array, Float

from .base import AbstractODEModel

__all__ = ["AdvectionDiffusion"]


class AdvectionDiffusion(AbstractODEModel):
    """Periodic 1-D advection-diffusion of a tracer, a `ForwardModel` stepped by diffrax.

    Arguments:
        n: number of grid points.
        length: domain length $L$.
        velocity: advection speed $u$.
        kappa: diffusivity $\\kappa \\ge 0$.
        dt: time between two states.
        solver: a diffrax solver (`dfx.Tsit5()` by default).
        n_substeps: fixed solver steps per `step` (explicit solvers need
            $\\kappa k_{max}^2 dt / n$ and $u k_{max} dt / n$ of order 1 or less).
        adjoint: the diffrax adjoint used when differentiating a step.
    """

    n: int = eqx.field(default=64, static=True)
    length: float = 2 * math.pi
    velocity: float = 1.0
    kappa: float = 0.05
    dt: float = 0.1
    solver: dfx.AbstractSolver = dfx.Tsit5()
    n_substeps: int = eqx.field(default=10, static=True)
    adjoint: dfx.AbstractAdjoint = dfx.DirectAdjoint()

    def __check_init__(self):
        if not isinstance(self.n, int) or self.n < 4:
            raise ValueError(f"AdvectionDiffusion got n={self.n!r}, expected an integer >= 4.")
        for name, value in (("length", self.length), ("dt", self.dt)):
            if not (math.isfinite(float(value)) and float(value) > 0):
                raise ValueError(f"AdvectionDiffusion got {name}={value!r}, expected a finite value > 0.")
        if isinstance(self.n_substeps, bool) or not isinstance(self.n_substeps, int) or self.n_substeps < 1:
            raise ValueError(f"AdvectionDiffusion got n_substeps={self.n_substeps!r}, expected an integer >= 1.")
        if not float(self.kappa) >= 0:
            raise ValueError(f"AdvectionDiffusion got kappa={self.kappa!r}, expected a value >= 0.")

    @property
    def state_size(self) -> int:
        return self.n

    @property
    def grid(self) -> Float[Array, " n"]:
        """Grid-point positions $x_i = iL/n$."""
        return jnp.arange(self.n) * (self.length / self.n)

    @property
    def wavenumbers(self) -> Float[Array, " n//2+1"]:
        """Angular wavenumbers $k$ of the real FFT."""
        return 2 * jnp.pi * jnp.fft.rfftfreq(self.n, d=self.length / self.n)

    def tendency(self, state: Float[Array, " n"]) -> Float[Array, " n"]:
        k = self.wavenumbers
        c_hat = jnp.fft.rfft(state)
        return jnp.fft.irfft((-1j * self.velocity * k - self.kappa * k**2) * c_hat, n=self.n).astype(state.dtype)

    def step(self, state: Float[Array, " n"], dt: Any = None) -> Float[Array, " n"]:
        """Integrate over one interval of length `dt` (default `self.dt`) with diffrax."""
        dt = self.dt if dt is None else dt
        sol = dfx.diffeqsolve(
            dfx.ODETerm(self.vector_field),
            self.solver,
            t0=0.0,
            t1=dt,
            dt0=dt / self.n_substeps,
            y0=state,
            stepsize_controller=dfx.ConstantStepSize(),
            max_steps=self.n_substeps,
            adjoint=self.adjoint,
            saveat=dfx.SaveAt(t1=True),
        )
        return sol.ys[-1]

    def diffrax_integrator(self) -> tuple[dfx.AbstractSolver, float]:
        """`(solver, dt0)` with which `diffrax.diffeqsolve` reproduces `step`."""
        return self.solver, self.dt / self.n_substeps

    def exact_solution(self, state: Float[Array, " n"], t: float) -> Float[Array, " n"]:
        """The exact evolution of the discretised system over time `t`, mode by mode."""
        k = self.wavenumbers
        c_hat = jnp.fft.rfft(state) * jnp.exp((-1j * self.velocity * k - self.kappa * k**2) * t)
        return jnp.fft.irfft(c_hat, n=self.n).astype(state.dtype)
