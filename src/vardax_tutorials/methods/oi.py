"""Optimal interpolation: the best linear unbiased estimate (BLUE) in one solve.

For a linear observation operator $H$, a background $x_b$ with error
covariance $B$ and observations $y$ with error covariance $R$, the analysis

    x_a = x_b + B H^T (H B H^T + R)^{-1} (y - H x_b)

is the minimum-variance linear unbiased estimate and, for Gaussian errors, the
posterior mean. Missing observations are handled with fixed shapes (so the
update jits and vmaps): with $D = \\mathrm{diag}(m)$ the innovation is
$d = D(y - Hx_b)$ and the system matrix is $S = DHBH^TD + DRD + (I - D)$, which
is block diagonal between observed and missing entries, so $S^{-1}d$ is exactly
the BLUE weight on the observed subset and zero elsewhere.
"""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import cast_floating, check_shape, prepare_analysis, to_array
from ..batch import Batch1D
from ..covariance import COVARIANCE_TAGS, dense_covariance
from ..obs.base import is_linear
from ..protocols import ObservationOperator
from .base import NOT_FINITE, NOT_SOLVED, AbstractAnalysisMethod, AnalysisSolution, failure_code, finish

__all__ = ["OptimalInterpolation"]


def _default_solver(dtype) -> lx.AbstractLinearSolver:
    tol = 1e-11 if jnp.finfo(dtype).bits == 64 else 1e-5
    return lx.CG(rtol=tol, atol=tol)


class OptimalInterpolation(AbstractAnalysisMethod):
    """Optimal interpolation (BLUE) for a linear observation operator.

    Arguments:
        obs_op: a linear `ObservationOperator` (`MaskedIdentity`, `LinearObs`, or
            any operator with class attribute `linear = True`).
        prior_cov: $B$, a PSD-tagged lineax operator of size $n$ (it may be
            singular: only $S$ is solved with).
        obs_cov: $R$, a PSD-tagged lineax operator of size $m$.
        solver: lineax solver for $S w = d$; conjugate gradients (`lx.CG`, with a
            tolerance set by the dtype) by default, `lx.Cholesky()` for small
            dense problems.
        throw: raise when the solve of $S w = d$ fails (default), or return the
            solution with `converged=False`.

    `solve(background, obs, mask=None)` returns an `AnalysisSolution` (the cost
    terms come from $w$ without inverting $B$ or $R$: $J_b = \\tfrac12 w^\\top
    DHBH^\\top Dw$, $J_o = \\tfrac12 w^\\top DRDw$); calling the module on a
    `Batch1D` analyses every `(b, t)` slice independently.
    """

    obs_op: ObservationOperator
    prior_cov: lx.AbstractLinearOperator
    obs_cov: lx.AbstractLinearOperator
    solver: lx.AbstractLinearSolver | None = None
    throw: bool = eqx.field(default=True, static=True)
    windowed: ClassVar[bool] = False

    def __check_init__(self):
        if not is_linear(self.obs_op):
            raise TypeError(
                f"OptimalInterpolation got obs_op = {type(self.obs_op).__name__}, which is not linear "
                "(no class attribute `linear = True`); BLUE is exact only for a linear H. "
                "Use vdx.ThreeDVar for a nonlinear observation operator."
            )
        if self.solver is not None and not isinstance(self.solver, lx.AbstractLinearSolver):
            raise TypeError(
                f"OptimalInterpolation got solver of type {type(self.solver).__name__}, expected None or a "
                "lineax solver such as lx.CG(rtol, atol) or lx.Cholesky()."
            )

    def _system(self, background, mask):
        """$H$, $D$ and $S = DHBH^TD + DRD + (I - D)$ as lineax operators."""
        H = self.obs_op.linearize(background)
        m = mask.astype(background.dtype)
        D = lx.DiagonalLinearOperator(m)
        S = (
            D @ H @ self.prior_cov @ H.T @ D
            + D @ self.obs_cov @ D
            + lx.DiagonalLinearOperator(1.0 - m)
        )
        return H, D, lx.TaggedLinearOperator(S, COVARIANCE_TAGS)

    def solve(
        self,
        background: Real[ArrayLike, " n"],
        obs: Real[ArrayLike, " m"],
        mask: Any = None,
    ) -> AnalysisSolution:
        """The BLUE analysis $x_a = x_b + BH^TD\\,S^{-1}D(y - Hx_b)$, with diagnostics.

        Arguments:
            background: $x_b$, shape `(n,)`.
            obs: $y$, shape `(m,)`, NaN where missing.
            mask: optional `(m,)` booleans (True = observed); by default the
                finite entries of `obs`.
        """
        xb, y, mask = prepare_analysis("OptimalInterpolation", self.obs_op, self.state_size, self.obs_size, background, obs, mask)
        return finish(self, *self._solve(xb, y, mask))

    @eqx.filter_jit
    def _solve(self, xb, y, mask):
        self = cast_floating(self, xb.dtype)
        H, D, S = self._system(xb, mask)
        innovation = jnp.where(mask, y - self.obs_op(xb), 0.0)
        solver = _default_solver(xb.dtype) if self.solver is None else self.solver
        sol = lx.linear_solve(S, innovation, solver, throw=False)
        w = sol.value
        analysis = xb + self.prior_cov.mv(H.T.mv(D.mv(w)))
        prior_cost = 0.5 * jnp.vdot(w, (D @ H @ self.prior_cov @ H.T @ D).mv(w))
        obs_cost = 0.5 * jnp.vdot(w, (D @ self.obs_cov @ D).mv(w))
        solved = (sol.result == lx.RESULTS.successful) & jnp.all(jnp.isfinite(w))
        finite = jnp.all(jnp.isfinite(analysis)) & jnp.isfinite(prior_cost + obs_cost)
        code = failure_code((~solved, NOT_SOLVED), (~finite, NOT_FINITE))
        solution = AnalysisSolution(
            analysis=analysis,
            converged=code == 0,
            num_steps=jnp.asarray(sol.stats.get("num_steps", 0)),
            prior_cost=prior_cost,
            obs_cost=obs_cost,
        )
        return solution, code

    def kalman_gain(self, background: Real[ArrayLike, " n"] | None = None, mask: Any = None) -> Float[Array, "n m"]:
        """The dense gain $K = BH^TD\\,S^{-1}$ (columns of missing observations are 0).

        Materialises $n \\times m$ numbers: meant for small, teaching-sized problems.
        """
        xb, mask = self._gain_inputs(background, mask, "OptimalInterpolation.kalman_gain")
        return self._gain(xb, mask)

    def _gain_inputs(self, background, mask, who):
        xb = jnp.zeros(self.state_size, self.prior_cov.in_structure().dtype) if background is None else to_array(background)
        check_shape(who, "background", xb, (self.state_size,), "the size of prior_cov")
        mask = jnp.ones(self.obs_size, bool) if mask is None else to_array(mask, bool)
        check_shape(who, "mask", mask, (self.obs_size,))
        return xb, mask

    @eqx.filter_jit
    def _gain(self, xb, mask):
        H, D, S = self._system(xb, mask)
        BHtD = (self.prior_cov @ H.T @ D).as_matrix()
        return jnp.linalg.solve(S.as_matrix(), BHtD.T).T

    def analysis_covariance(
        self, background: Real[ArrayLike, " n"] | None = None, mask: Any = None
    ) -> lx.MatrixLinearOperator:
        """The analysis-error covariance $P_a = (I - KDH)B$, dense and PSD-tagged.

        Materialises an $n \\times n$ matrix: meant for small problems.
        """
        xb, mask = self._gain_inputs(background, mask, "OptimalInterpolation.analysis_covariance")
        return dense_covariance(self._analysis_cov(xb, mask), check=False)

    @eqx.filter_jit
    def _analysis_cov(self, xb, mask):
        K = self._gain(xb, mask)
        H, D, _ = self._system(xb, mask)
        B = self.prior_cov.as_matrix()
        Pa = B - K @ (D @ H).as_matrix() @ B
        return 0.5 * (Pa + Pa.T)

    def __call__(
        self, batch: Batch1D, background: Real[ArrayLike, "*B_T n"] | None = None
    ) -> Float[Array, "B T n"]:
        """Analyse every `(b, t)` slice of a `Batch1D` (observations on the model grid).

        Arguments:
            batch: observations `batch.input` of shape `(B, T, m)` with `batch.mask`.
            background: `(n,)`, `(T, n)` or `(B, T, n)`; zeros (a climatological
                anomaly of mean 0) by default.
        """
        if not isinstance(batch, Batch1D):
            raise TypeError(f"OptimalInterpolation got {type(batch).__name__}, expected a Batch1D.")
        bg = batch.backgrounds(background, self.state_size, "OptimalInterpolation")
        prepare_analysis("OptimalInterpolation", self.obs_op, self.state_size, self.obs_size, bg[0, 0], batch.input[0, 0], batch.mask[0, 0])
        return jax.vmap(jax.vmap(self.analyse))(bg, batch.input, batch.mask)
