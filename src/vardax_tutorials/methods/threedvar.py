"""3DVar: the analysis as the minimiser of the variational cost.

$J(x) = \\tfrac12\\lVert x - x_b\\rVert^2_{B^{-1}} + \\tfrac12\\lVert D(y - H(x))\\rVert^2_{\\tilde R^{-1}}$
with $D = \\mathrm{diag}(\\omega)$ the mask and $\\tilde R = DRD + I - D$, which is
$\\tfrac12\\lVert y_o - H_o(x)\\rVert^2_{R_{oo}^{-1}}$: only the observed block of $R$ is
inverted (the terms of `vdx.costs`). For a linear $H$ its minimiser is the BLUE; for a
nonlinear $H$ it is the posterior mode, which a single linearised update can
miss. The minimiser is any optimistix minimiser (BFGS by default, NonlinearCG,
...) or least-squares solver (GaussNewton, LevenbergMarquardt), which then sees
the whitened residual $[L_B^{-1}(x - x_b);\\ L_{\\tilde R}^{-1}D(y - H(x))]$, so
$J = \\tfrac12\\lVert r\\rVert^2$. With `cvt=True` the control variable is
$\\chi = L_B^{-1}(x - x_b)$ (a control-variable transform: $J_b = \\tfrac12\\lVert\\chi\\rVert^2$,
and no $B^{-1}$ is applied at all).
"""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import (
    Index,
    cast_floating,
    check_minimiser,
    check_minimiser_adjoint,
    index_at_least,
    initial_point,
    prepare_analysis,
)
from ..batch import Batch1D
from ..costs import masked_obs_cov, obs_residual
from ..covariance import Whitener
from ..protocols import ObservationOperator
from ._common import default_minimiser, half_squared_norms, minimise_residuals
from .base import (
    NOT_CONVERGED,
    NOT_FINITE,
    OBS_COV,
    PRIOR_COV,
    AbstractAnalysisMethod,
    AnalysisSolution,
    failure_code,
    finish,
)

__all__ = ["ThreeDVar"]


class ThreeDVar(AbstractAnalysisMethod):
    """Three-dimensional variational assimilation for any (nonlinear) $H$.

    Arguments:
        obs_op: an `ObservationOperator`, linear or not.
        prior_cov: $B$, a PSD-tagged, positive-definite lineax operator.
        obs_cov: $R$, a PSD-tagged lineax operator, positive definite on the
            observed entries.
        minimiser: an optimistix minimiser (`optx.BFGS`, `optx.NonlinearCG`, ...)
            or least-squares solver (`optx.GaussNewton`, ...); BFGS with
            dtype-dependent tolerances by default. For large states give
            GaussNewton a matrix-free inner solver, e.g.
            `optx.GaussNewton(rtol, atol, linear_solver=lx.Normal(lx.CG(rtol, atol)))`
            (CG on the normal equations, which applies the Jacobian and its
            transpose: one JVP and one VJP per CG step).
        max_steps: iteration cap of the minimiser.
        cvt: minimise over $\\chi = L_B^{-1}(x - x_b)$ instead of $x$. Recommended
            for smooth, correlated $B$ (Matérn with a long length scale): the
            Hessian in $x$, $B^{-1} + H'^\\top W H'$ with $W = D\\tilde R^{-1}D$, is then badly conditioned
            and quasi-Newton methods may need many more than `max_steps` steps.
        minimiser_adjoint: how the analysis is differentiated with respect to
            its inputs (background, observations, covariances): an optimistix
            adjoint, `optx.ImplicitAdjoint()` (implicit function theorem at the
            minimum) by default, or `vdx.KStepAdjoint(k)` (with a fixed-step
            minimiser such as `optx.GaussNewton`).
        throw: raise when the minimiser does not converge or the cost is not
            finite (default), or return the solution with `converged=False`.
    """

    obs_op: ObservationOperator
    prior_cov: lx.AbstractLinearOperator
    obs_cov: lx.AbstractLinearOperator
    minimiser: optx.AbstractMinimiser | optx.AbstractLeastSquaresSolver | None = None
    max_steps: Index = eqx.field(default=256, static=True, converter=lambda k: index_at_least("ThreeDVar", "max_steps", k, 1))
    cvt: bool = eqx.field(default=False, static=True)
    minimiser_adjoint: optx.AbstractAdjoint = optx.ImplicitAdjoint()
    throw: bool = eqx.field(default=True, static=True)
    windowed: ClassVar[bool] = False

    def __check_init__(self):
        check_minimiser("ThreeDVar", self.minimiser)
        check_minimiser_adjoint("ThreeDVar", self.minimiser_adjoint, self.minimiser)

    def solve(
        self,
        background: Real[ArrayLike, " n"],
        obs: Real[ArrayLike, " m"],
        mask: Any = None,
        *,
        init: Real[ArrayLike, " n"] | None = None,
    ) -> AnalysisSolution:
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
        return finish(self, *self._solve(xb, y, mask, x0))

    @eqx.filter_jit
    def _solve(self, xb, y, mask, x0):
        self = cast_floating(self, xb.dtype)
        w_b = Whitener.of(self.prior_cov)
        obs_cov = masked_obs_cov(self.obs_cov, mask)
        w_r = Whitener.of(obs_cov)

        def to_state(z):
            return xb + w_b.factor.mv(z) if self.cvt else z

        def residuals(z):
            x = to_state(z)
            r_b = z if self.cvt else w_b(x - xb)
            return r_b, obs_residual(x, y, self.obs_op, w_r, mask)

        z0 = w_b(x0 - xb) if self.cvt else x0
        solver = default_minimiser(xb.dtype, 1e-10, 1e-6) if self.minimiser is None else self.minimiser
        sol = minimise_residuals(residuals, solver, z0, max_steps=self.max_steps, adjoint=self.minimiser_adjoint)
        prior_cost, obs_cost = half_squared_norms(*residuals(sol.value))
        analysis = to_state(sol.value)
        code = failure_code(
            (~w_b.whitens(self.prior_cov), PRIOR_COV),
            (~w_r.whitens(obs_cov), OBS_COV),
            (~(jnp.isfinite(prior_cost + obs_cost) & jnp.all(jnp.isfinite(analysis))), NOT_FINITE),
            (sol.result != optx.RESULTS.successful, NOT_CONVERGED),
        )
        solution = AnalysisSolution(
            analysis=analysis,
            converged=code == 0,
            num_steps=jnp.asarray(sol.stats["num_steps"]),
            prior_cost=prior_cost,
            obs_cost=obs_cost,
        )
        return solution, code

    def __call__(self, batch: Batch1D, background: Real[ArrayLike, "*B_T n"] | None = None) -> Float[Array, "B T n"]:
        """Analyse every `(b, t)` slice of a `Batch1D`; `background` as in `OptimalInterpolation`."""
        if not isinstance(batch, Batch1D):
            raise TypeError(f"ThreeDVar got {type(batch).__name__}, expected a Batch1D.")
        bg = batch.backgrounds(background, self.state_size, "ThreeDVar")
        prepare_analysis("ThreeDVar", self.obs_op, self.state_size, self.obs_size, bg[0, 0], batch.input[0, 0], batch.mask[0, 0])
        return jax.vmap(jax.vmap(self.analyse))(bg, batch.input, batch.mask)
