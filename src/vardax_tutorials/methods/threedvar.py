"""3DVar: the analysis as the minimiser of the variational cost.

$J(x) = \\tfrac12\\lVert x - x_b\\rVert^2_{B^{-1}} + \\tfrac12\\lVert D(y - H(x))\\rVert^2_{R^{-1}}$
(the terms of `vdx.costs`). For a linear $H$ its minimiser is the BLUE; for a
nonlinear $H$ it is the posterior mode, which a single linearised update can
miss. The minimiser is any optimistix minimiser (BFGS by default, NonlinearCG,
...) or least-squares solver (GaussNewton, LevenbergMarquardt), which then sees
the whitened residual $[L_B^{-1}(x - x_b);\\ L_R^{-1}D(y - H(x))]$, so
$J = \\tfrac12\\lVert r\\rVert^2$. With `cvt=True` the control variable is
$\\chi = L_B^{-1}(x - x_b)$ (a control-variable transform: $J_b = \\tfrac12\\lVert\\chi\\rVert^2$,
and no $B^{-1}$ is applied at all).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._checks import (
    check_covariance,
    check_int_at_least,
    check_minimiser,
    check_minimiser_adjoint,
    check_obs_operator,
    initial_point,
    prepare_analysis,
)
from ..batch import Batch1D
from ..costs import masked_obs_cov, obs_residual
from ..covariance import Whitener
from ..protocols import ObservationOperator
from ._common import VariationalAnalysisStep, default_minimiser, half_squared_norms, minimise_residuals

__all__ = ["ThreeDVar", "ThreeDVarSolution"]


class ThreeDVarSolution(eqx.Module):
    """What a 3DVar analysis returns besides the state.

    Attributes:
        analysis: $x_a$, the minimiser.
        converged: whether the minimiser met its tolerances within `max_steps`
            (a stationary point of $J$: with a nonlinear $H$ it may be a local
            minimum, or even a saddle or maximum if started exactly on one).
        num_steps: iterations taken.
        prior_cost, obs_cost: $J_b(x_a)$ and $J_o(x_a)$.
    """

    analysis: Float[Array, " n"]
    converged: Bool[Array, ""]
    num_steps: Int[Array, ""]
    prior_cost: Float[Array, ""]
    obs_cost: Float[Array, ""]

    @property
    def cost(self) -> Float[Array, ""]:
        return self.prior_cost + self.obs_cost


class ThreeDVar(eqx.Module):
    """Three-dimensional variational assimilation for any (nonlinear) $H$.

    Arguments:
        obs_op: an `ObservationOperator`, linear or not.
        prior_cov: $B$, a PSD-tagged lineax operator.
        obs_cov: $R$, a PSD-tagged lineax operator.
        minimiser: an optimistix minimiser (`optx.BFGS`, `optx.NonlinearCG`, ...)
            or least-squares solver (`optx.GaussNewton`, ...); BFGS with
            dtype-dependent tolerances by default. For large states give
            GaussNewton a matrix-free inner solver, e.g.
            `optx.GaussNewton(rtol, atol, linear_solver=lx.Normal(lx.CG(rtol, atol)))`.
        max_steps: iteration cap of the minimiser.
        cvt: minimise over $\\chi = L_B^{-1}(x - x_b)$ instead of $x$. Recommended
            for smooth, correlated $B$ (Matérn with a long length scale): the
            Hessian in $x$, $B^{-1} + H^\\top R^{-1} H$, is then badly conditioned
            and quasi-Newton methods may need many more than `max_steps` steps.
        minimiser_adjoint: how the analysis is differentiated with respect to
            its inputs (background, observations, covariances): an optimistix
            adjoint, `optx.ImplicitAdjoint()` (implicit function theorem at the
            minimum) by default, or `vdx.KStepAdjoint(k)`.
    """

    obs_op: ObservationOperator
    prior_cov: lx.AbstractLinearOperator
    obs_cov: lx.AbstractLinearOperator
    minimiser: optx.AbstractMinimiser | optx.AbstractLeastSquaresSolver | None = None
    max_steps: int = eqx.field(default=256, static=True)
    cvt: bool = eqx.field(default=False, static=True)
    minimiser_adjoint: optx.AbstractAdjoint = optx.ImplicitAdjoint()

    def __check_init__(self):
        who = "ThreeDVar"
        check_obs_operator(who, self.obs_op)
        check_covariance(who, "prior_cov", self.prior_cov)
        check_covariance(who, "obs_cov", self.obs_cov)
        check_minimiser(who, self.minimiser)
        check_int_at_least(who, "max_steps", self.max_steps, 1)
        check_minimiser_adjoint(who, self.minimiser_adjoint)

    @property
    def state_size(self) -> int:
        return self.prior_cov.in_size()

    @property
    def obs_size(self) -> int:
        return self.obs_cov.in_size()

    def solve(
        self,
        background: Float[ArrayLike, " n"],
        obs: Float[ArrayLike, " m"],
        mask: Any = None,
        *,
        init: Float[ArrayLike, " n"] | None = None,
    ) -> ThreeDVarSolution:
        """Minimise $J$ and report convergence, iterations and the two cost terms.

        Arguments:
            background: $x_b$, shape `(n,)`.
            obs: $y$, shape `(m,)`, NaN where missing.
            mask: optional `(m,)` booleans; the finite entries of `obs` by default.
            init: starting point of the minimiser; the background by default.
        """
        who = "ThreeDVar"
        xb, y, mask = prepare_analysis(who, self.obs_op, self.state_size, self.obs_size, background, obs, mask)
        x0 = initial_point(who, xb, init)
        return self._solve(xb, y, mask, x0)

    def analyse(self, background: Float[ArrayLike, " n"], obs: Float[ArrayLike, " m"], mask: Any = None) -> Float[Array, " n"]:
        """The analysis $x_a = \\arg\\min J$ (see `solve` for diagnostics)."""
        return self.solve(background, obs, mask).analysis

    @eqx.filter_jit
    def _solve(self, xb, y, mask, x0) -> ThreeDVarSolution:
        prior_sqrt = Whitener.of(self.prior_cov).factor
        w_b = Whitener(prior_sqrt)
        w_r = Whitener.of(masked_obs_cov(self.obs_cov, mask))

        def to_state(z):
            return xb + prior_sqrt.mv(z) if self.cvt else z

        def residuals(z):
            x = to_state(z)
            r_b = z if self.cvt else w_b(x - xb)
            return r_b, obs_residual(x, y, self.obs_op, w_r, mask)

        z0 = w_b(x0 - xb) if self.cvt else x0
        solver = default_minimiser(xb.dtype, 1e-10, 1e-6) if self.minimiser is None else self.minimiser
        sol = minimise_residuals(residuals, solver, z0, max_steps=self.max_steps, adjoint=self.minimiser_adjoint)
        prior_cost, obs_cost = half_squared_norms(*residuals(sol.value))
        return ThreeDVarSolution(
            analysis=to_state(sol.value),
            converged=sol.result == optx.RESULTS.successful,
            num_steps=jnp.asarray(sol.stats["num_steps"]),
            prior_cost=prior_cost,
            obs_cost=obs_cost,
        )

    def __call__(self, batch: Batch1D, background: Float[ArrayLike, "*B_T n"] | None = None) -> Float[Array, "B T n"]:
        """Analyse every `(b, t)` slice of a `Batch1D`; `background` as in `OptimalInterpolation`."""
        if not isinstance(batch, Batch1D):
            raise TypeError(f"ThreeDVar got {type(batch).__name__}, expected a Batch1D.")
        bg = batch.backgrounds(background, self.state_size, "ThreeDVar")
        prepare_analysis("ThreeDVar", self.obs_op, self.state_size, self.obs_size, bg[0, 0], batch.input[0, 0], batch.mask[0, 0])
        solve = jax.vmap(jax.vmap(lambda b, y, m: self._solve(b, y, m, b).analysis))
        return solve(bg, batch.input, batch.mask)

    def as_analysis_step(self) -> VariationalAnalysisStep:
        """This method as an `AnalysisStep` that keeps every setting but $H$ and $R$."""
        return VariationalAnalysisStep(self)
