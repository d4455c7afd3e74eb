"""Strong-constraint 4DVar: the initial state as the control, the model as exact.

Over a window of $T$ observation times, with $x_t = M^t(x_0)$,

    J(x_0) = 1/2 |x_0 - x_b|^2_{B^{-1}} + sum_t 1/2 |D_t (y_t - H(x_t))|^2_{R~_t^{-1}},

with $\\tilde R_t = D_t R D_t + I - D_t$ (the observed block of $R$ inverted; see
`costs.masked_obs_cov`).

Its gradient runs the adjoint of the window (reverse-mode autodiff). How the
window is differentiated is a field, `forward_adjoint`: `None` is a plain
`lax.scan` of `forward.step` (fastest; stores every step's stages); a diffrax adjoint (`RecursiveCheckpointAdjoint`,
`BacksolveAdjoint`, `DirectAdjoint`, `ForwardMode`) integrates the model's
vector field with `diffrax.diffeqsolve` under that adjoint (Talagrand and
Courtier 1987; Le Dimet and Talagrand 1986).
"""

from __future__ import annotations

from typing import Any, ClassVar

import diffrax as dfx
import equinox as eqx
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import (
    Index,
    cast_floating,
    check_forward,
    check_minimiser,
    check_minimiser_adjoint,
    check_shape,
    index_at_least,
    initial_point,
    prepare_window,
    to_array,
)
from ..costs import window_obs_residuals, window_obs_whiteners
from ..covariance import Whitener
from ..models.rollout import trajectory
from ..protocols import ForwardModel, ObservationOperator
from ._common import default_minimiser, half_squared_norms, minimise_residuals
from .base import (
    NOT_CONVERGED,
    NOT_FINITE,
    OBS_COV,
    PRIOR_COV,
    AbstractAnalysisMethod,
    WindowSolution,
    failure_code,
    finish,
)

__all__ = ["StrongFourDVar"]


class StrongFourDVar(AbstractAnalysisMethod):
    """Strong-constraint 4DVar over a window of observations.

    Arguments:
        forward: the `ForwardModel` $M$ (one step between observation rows).
        obs_op: the observation operator $H$ (the same at every time).
        prior_cov: $B$ for $x_0$; obs_cov: $R$ for each row.
        minimiser: an optimistix minimiser (BFGS by default) or least-squares
            solver (Gauss-Newton). Either works with every `forward_adjoint`:
            the autodiff mode optimistix uses is chosen to suit it.
        max_steps: iteration cap of the minimiser.
        forward_adjoint: how the window is differentiated (see the module docstring).
        minimiser_adjoint: how the analysis is differentiated with respect to
            its inputs (background, observations, covariances, model
            parameters): an optimistix adjoint, `optx.ImplicitAdjoint()` by
            default, or `vdx.KStepAdjoint(k)` with a fixed-step minimiser. Needs
            second derivatives of the window, so `forward_adjoint` `None` or
            `DirectAdjoint()` (JAX cannot forward-differentiate the custom VJPs
            of the others).
        throw: raise when the minimiser does not converge or the cost is not
            finite (default), or return the solution with `converged=False`.
    """

    forward: ForwardModel
    obs_op: ObservationOperator
    prior_cov: lx.AbstractLinearOperator
    obs_cov: lx.AbstractLinearOperator
    minimiser: optx.AbstractMinimiser | optx.AbstractLeastSquaresSolver | None = None
    max_steps: Index = eqx.field(default=500, static=True, converter=lambda k: index_at_least("StrongFourDVar", "max_steps", k, 1))
    forward_adjoint: dfx.AbstractAdjoint | None = None
    minimiser_adjoint: optx.AbstractAdjoint = optx.ImplicitAdjoint()
    throw: bool = eqx.field(default=True, static=True)
    windowed: ClassVar[bool] = True

    def __check_init__(self):
        who = "StrongFourDVar"
        check_forward(who, self.forward)
        check_minimiser(who, self.minimiser)
        if self.forward_adjoint is not None and not isinstance(self.forward_adjoint, dfx.AbstractAdjoint):
            raise TypeError(
                f"{who} got forward_adjoint of type {type(self.forward_adjoint).__name__}, expected None "
                "or a diffrax adjoint (e.g. diffrax.RecursiveCheckpointAdjoint())."
            )
        check_minimiser_adjoint(who, self.minimiser_adjoint, self.minimiser)

    def trajectory(self, x0: Real[ArrayLike, " n"], n_times: Index) -> Float[Array, "T n"]:
        """$x_0, M(x_0), \\dots, M^{T-1}(x_0)$ through the chosen forward adjoint."""
        n_times = index_at_least("StrongFourDVar.trajectory", "n_times", n_times, 1)
        x0 = to_array(x0)
        check_shape("StrongFourDVar.trajectory", "x0", x0, (self.state_size,), "one state")
        return trajectory(cast_floating(self.forward, x0.dtype), x0, n_times, self.forward_adjoint)

    def cost(self, x0: Real[ArrayLike, " n"], background: Real[ArrayLike, " n"], obs: Real[ArrayLike, "T m"], mask: Any = None) -> Float[Array, ""]:
        """$J(x_0) = J_b + J_o$ for a window `obs` of shape `(T, m)` (differentiable in `x0`)."""
        who = "StrongFourDVar"
        xb, y, mask = prepare_window(who, self.forward, self.obs_op, self.state_size, self.obs_size, background, obs, mask)
        x0 = to_array(x0)
        check_shape(who, "x0", x0, xb.shape, "one state")
        x0 = x0.astype(xb.dtype)
        method = cast_floating(self, xb.dtype)
        residuals, _ = method._residuals(xb, y, mask)
        return sum(half_squared_norms(*residuals(x0)))

    def _residuals(self, xb, y, mask):
        """Whitened residuals $(L_B^{-1}(x_0 - x_b), L_{R_t}^{-1} D_t(y_t - H(x_t)))$, and the whitening checks."""
        w_b = Whitener.of(self.prior_cov)
        w_r, r_ok = window_obs_whiteners(self.obs_cov, mask)
        n_times = y.shape[0]

        def residuals(x0, traj=None):
            traj = trajectory(self.forward, x0, n_times, self.forward_adjoint) if traj is None else traj
            return w_b(x0 - xb), window_obs_residuals(traj, y, self.obs_op, w_r, mask)

        return residuals, (w_b.whitens(self.prior_cov), r_ok)

    def solve(
        self,
        background: Real[ArrayLike, " n"],
        obs: Real[ArrayLike, "T m"],
        mask: Any = None,
        *,
        init: Real[ArrayLike, " n"] | None = None,
    ) -> WindowSolution:
        """Minimise $J(x_0)$ over the window `obs` (`(T, m)`, NaN where missing).

        Arguments:
            background: $x_b$, the background of $x_0$ (at the time of row 0).
            obs: the window, row t observing the state after t steps.
            mask: optional `(T, m)` booleans; the finite entries of `obs` by default.
            init: starting point of the minimiser; the background by default.
        """
        who = "StrongFourDVar"
        xb, y, mask = prepare_window(who, self.forward, self.obs_op, self.state_size, self.obs_size, background, obs, mask)
        x0 = initial_point(who, xb, init)
        return finish(self, *self._solve(xb, y, mask, x0))

    @eqx.filter_jit
    def _solve(self, xb, y, mask, x0):
        self = cast_floating(self, xb.dtype)
        residuals, (b_ok, r_ok) = self._residuals(xb, y, mask)
        solver = default_minimiser(xb.dtype, 1e-9, 1e-5) if self.minimiser is None else self.minimiser
        sol = minimise_residuals(
            residuals,
            solver,
            x0,
            max_steps=self.max_steps,
            adjoint=self.minimiser_adjoint,
            forward_adjoint=self.forward_adjoint,
        )
        traj = trajectory(self.forward, sol.value, y.shape[0], self.forward_adjoint)
        prior_cost, obs_cost = half_squared_norms(*residuals(sol.value, traj))
        code = failure_code(
            (~b_ok, PRIOR_COV),
            (~r_ok, OBS_COV),
            (~(jnp.isfinite(prior_cost + obs_cost) & jnp.all(jnp.isfinite(traj))), NOT_FINITE),
            (sol.result != optx.RESULTS.successful, NOT_CONVERGED),
        )
        solution = WindowSolution(
            initial_state=sol.value,
            trajectory=traj,
            converged=code == 0,
            num_steps=jnp.asarray(sol.stats["num_steps"]),
            prior_cost=prior_cost,
            obs_cost=obs_cost,
            model_error_cost=jnp.zeros((), xb.dtype),
        )
        return solution, code
