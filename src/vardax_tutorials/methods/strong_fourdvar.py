"""Strong-constraint 4DVar: the initial state as the control, the model as exact.

Over a window of $T$ observation times, with $x_t = M^t(x_0)$,

    J(x_0) = 1/2 |x_0 - x_b|^2_{B^{-1}} + sum_t 1/2 |D_t (y_t - H(x_t))|^2_{R^{-1}}.

Its gradient runs the adjoint of the window (reverse-mode autodiff). How the
window is differentiated is a field, `forward_adjoint`: `None` is a plain
`lax.scan` of `forward.step` (fastest; stores every step's stages); a diffrax adjoint (`RecursiveCheckpointAdjoint`,
`BacksolveAdjoint`, `DirectAdjoint`, `ForwardMode`) integrates the model's
vector field with `diffrax.diffeqsolve` under that adjoint (Talagrand and
Courtier 1987; Le Dimet and Talagrand 1986).
"""

from __future__ import annotations

from typing import Any

import diffrax as dfx
import equinox as eqx
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._checks import (
    initial_point,
    check_covariance,
    check_forward,
    check_int_at_least,
    check_minimiser,
    check_minimiser_adjoint,
    check_obs_operator,
    check_shape,
    prepare_window,
)
from ..costs import window_obs_residuals, window_obs_whiteners
from ..covariance import Whitener
from ..models.rollout import window
from ..protocols import ForwardModel, ObservationOperator
from ._common import VariationalAnalysisStep, default_minimiser, half_squared_norms, minimise_residuals

__all__ = ["StrongFourDVar", "StrongFourDVarSolution"]


class StrongFourDVarSolution(eqx.Module):
    """Result of a strong-constraint 4DVar analysis.

    Attributes:
        initial_state: the analysed $x_0$.
        trajectory: `(T, n)` analysed states, row t at the time of `obs[t]`.
        converged, num_steps: the minimiser's report.
        prior_cost, obs_cost: $J_b$ and $J_o$ at the analysis.
    """

    initial_state: Float[Array, " n"]
    trajectory: Float[Array, "T n"]
    converged: Bool[Array, ""]
    num_steps: Int[Array, ""]
    prior_cost: Float[Array, ""]
    obs_cost: Float[Array, ""]

    @property
    def cost(self) -> Float[Array, ""]:
        return self.prior_cost + self.obs_cost

    @property
    def final_state(self) -> Float[Array, " n"]:
        return self.trajectory[..., -1, :]


class StrongFourDVar(eqx.Module):
    """Strong-constraint 4DVar over a window of observations.

    Arguments:
        forward: the `ForwardModel` $M$ (one step between observation rows).
        obs_op: the observation operator $H$ (the same at every time).
        prior_cov: $B$ for $x_0$; obs_cov: $R$ for each row.
        minimiser: an optimistix minimiser (BFGS by default) or least-squares
            solver (Gauss-Newton; needs a forward-differentiable window:
            `forward_adjoint` `None`, `DirectAdjoint` or `ForwardMode`).
        max_steps: iteration cap of the minimiser.
        forward_adjoint: how the window is differentiated (see the module docstring).
        minimiser_adjoint: how the analysis is differentiated with respect to
            its inputs (background, observations, covariances): an optimistix
            adjoint, `optx.ImplicitAdjoint()` by default, or `vdx.KStepAdjoint(k)`.
            Needs second derivatives of the window, so `forward_adjoint` `None`
            or `DirectAdjoint()`.
    """

    forward: ForwardModel
    obs_op: ObservationOperator
    prior_cov: lx.AbstractLinearOperator
    obs_cov: lx.AbstractLinearOperator
    minimiser: optx.AbstractMinimiser | optx.AbstractLeastSquaresSolver | None = None
    max_steps: int = eqx.field(default=500, static=True)
    forward_adjoint: dfx.AbstractAdjoint | None = None
    minimiser_adjoint: optx.AbstractAdjoint = optx.ImplicitAdjoint()

    def __check_init__(self):
        who = "StrongFourDVar"
        check_forward(who, self.forward)
        check_obs_operator(who, self.obs_op)
        check_covariance(who, "prior_cov", self.prior_cov)
        check_covariance(who, "obs_cov", self.obs_cov)
        check_minimiser(who, self.minimiser)
        if self.forward_adjoint is not None and not isinstance(self.forward_adjoint, dfx.AbstractAdjoint):
            raise TypeError(
                f"{who} got forward_adjoint of type {type(self.forward_adjoint).__name__}, expected None "
                "or a diffrax adjoint (e.g. diffrax.RecursiveCheckpointAdjoint())."
            )
        if isinstance(self.minimiser, optx.AbstractLeastSquaresSolver) and not (
            self.forward_adjoint is None or isinstance(self.forward_adjoint, (dfx.DirectAdjoint, dfx.ForwardMode))
        ):
            raise TypeError(
                f"{who}: a least-squares minimiser linearises the window in forward mode, which "
                f"{type(self.forward_adjoint).__name__} does not support; use forward_adjoint=None, "
                "DirectAdjoint() or ForwardMode(), or a minimiser such as optx.BFGS."
            )
        check_int_at_least(who, "max_steps", self.max_steps, 1)
        check_minimiser_adjoint(who, self.minimiser_adjoint)

    @property
    def state_size(self) -> int:
        return self.prior_cov.in_size()

    @property
    def obs_size(self) -> int:
        return self.obs_cov.in_size()

    def trajectory(self, x0: Float[ArrayLike, " n"], n_times: int) -> Float[Array, "T n"]:
        """$x_0, M(x_0), \\dots, M^{T-1}(x_0)$ through the chosen forward adjoint."""
        return window(self.forward, jnp.asarray(x0), n_times, self.forward_adjoint)

    def cost(self, x0: Float[ArrayLike, " n"], background: Float[ArrayLike, " n"], obs: Float[ArrayLike, "T m"], mask: Any = None) -> Float[Array, ""]:
        """$J(x_0) = J_b + J_o$ for a window `obs` of shape `(T, m)`."""
        xb, y, mask = prepare_window("StrongFourDVar", self.forward, self.obs_op, self.state_size, self.obs_size, background, obs, mask)
        x0 = jnp.asarray(x0, xb.dtype)
        check_shape("StrongFourDVar", "x0", x0, xb.shape, "one state")
        return self._cost_fn(xb, y, mask)(x0)

    def _cost_fn(self, xb, y, mask):
        residuals = self._residuals(xb, y, mask)
        return lambda x0: sum(half_squared_norms(*residuals(x0, self.trajectory(x0, y.shape[0]))))

    def _residuals(self, xb, y, mask):
        """Whitened residuals $(L_B^{-1}(x_0 - x_b), L_{R_t}^{-1} D_t(y_t - H(x_t)))$ of a trajectory."""
        w_b = Whitener.of(self.prior_cov)
        w_r = window_obs_whiteners(self.obs_cov, mask)

        def residuals(x0, traj):
            return w_b(x0 - xb), window_obs_residuals(traj, y, self.obs_op, w_r, mask)

        return residuals

    def solve(
        self,
        background: Float[ArrayLike, " n"],
        obs: Float[ArrayLike, "T m"],
        mask: Any = None,
        *,
        init: Float[ArrayLike, " n"] | None = None,
    ) -> StrongFourDVarSolution:
        """Minimise $J(x_0)$ over the window `obs` (`(T, m)`, NaN where missing)."""
        who = "StrongFourDVar"
        xb, y, mask = prepare_window(who, self.forward, self.obs_op, self.state_size, self.obs_size, background, obs, mask)
        x0 = initial_point(who, xb, init)
        return self._solve(xb, y, mask, x0)

    @eqx.filter_jit
    def _solve(self, xb, y, mask, x0) -> StrongFourDVarSolution:
        n_times = y.shape[0]
        residuals = self._residuals(xb, y, mask)
        solver = default_minimiser(xb.dtype, 1e-9, 1e-5) if self.minimiser is None else self.minimiser
        sol = minimise_residuals(
            lambda x: residuals(x, self.trajectory(x, n_times)),
            solver,
            x0,
            max_steps=self.max_steps,
            adjoint=self.minimiser_adjoint,
            forward_adjoint=self.forward_adjoint,
        )
        traj = self.trajectory(sol.value, n_times)
        prior_cost, obs_cost = half_squared_norms(*residuals(sol.value, traj))
        return StrongFourDVarSolution(
            initial_state=sol.value,
            trajectory=traj,
            converged=sol.result == optx.RESULTS.successful,
            num_steps=jnp.asarray(sol.stats["num_steps"]),
            prior_cost=prior_cost,
            obs_cost=obs_cost,
        )

    def analyse(self, background: Float[ArrayLike, " n"], obs: Float[ArrayLike, "T m"], mask: Any = None) -> Float[Array, " n"]:
        """The analysed state at the time of the window's last row."""
        return self.solve(background, obs, mask).final_state

    def as_analysis_step(self) -> VariationalAnalysisStep:
        """This method as an `AnalysisStep` that keeps every setting but $H$ and $R$."""
        return VariationalAnalysisStep(self)
