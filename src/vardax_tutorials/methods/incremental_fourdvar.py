"""Incremental 4DVar: Gauss-Newton outer loops, conjugate-gradient inner loops.

Each outer iteration $k$ linearises the whole window about the current
trajectory (`jax.linearize`, so the tangent-linear model $M'$ and $H'$ are
included) and solves the quadratic inner problem for the increment,

    (B^{-1} + sum_t (H' M'_t)^T R^{-1} (H' M'_t)) δx = -∇J(x^k),

with `lineax.CG` on a PSD-tagged `FunctionLinearOperator` built from the
linearised window and its transpose (the adjoint). With the control-variable
transform (`cvt=True`) the unknown is $\\chi = L_B^{-1}(x_0 - x_b)$ with
$L_B$ = `vdx.covariance.sqrt(B)`, and the inner Hessian becomes
$I + L_B^\\top G'^\\top R^{-1} G' L_B$, much better conditioned (Courtier et al. 1994).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._checks import (
    check_covariance,
    check_forward,
    check_int_at_least,
    check_obs_operator,
    initial_point,
    is_concrete,
    prepare_window,
)
from ..costs import window_obs_residuals, window_obs_whiteners
from ..covariance import COVARIANCE_TAGS, Whitener
from ..models.rollout import window
from ..protocols import ForwardModel, ObservationOperator
from ._common import VariationalAnalysisStep

__all__ = ["IncrementalConfig", "IncrementalFourDVar", "IncrementalSolution"]


_SINGULAR_B, _SINGULAR_R, _NONFINITE_COST, _CG_BREAKDOWN = 1, 2, 3, 4
_FAILURES = {
    _SINGULAR_B: "prior_cov cannot be whitened (its square root is singular or not finite); "
    "B must be positive definite.",
    _SINGULAR_R: "obs_cov cannot be whitened on the observed entries (singular or not finite); "
    "R must be positive definite.",
    _NONFINITE_COST: "the cost is not finite at outer iteration {k} (the trajectory diverged); "
    "use a shorter window or a background closer to the truth.",
    _CG_BREAKDOWN: "the inner conjugate-gradient solve broke down at outer iteration {k}: the gradient "
    "or the increment is not finite (the linearised window is not finite, e.g. H is not "
    "differentiable there, or the inner Hessian is singular or indefinite to working precision).",
}


class IncrementalConfig(eqx.Module):
    """Loop settings of `IncrementalFourDVar`.

    Arguments:
        n_outer: Gauss-Newton (outer) iterations, at least 1.
        n_inner: cap on conjugate-gradient iterations per inner solve.
        cg_tol: relative and absolute tolerance of the inner CG.
        cvt: solve for the whitened control $\\chi = L_B^{-1}(x_0 - x_b)$.
    """

    n_outer: int = eqx.field(default=4, static=True)
    n_inner: int = eqx.field(default=100, static=True)
    cg_tol: float = 1e-8
    cvt: bool = eqx.field(default=True, static=True)

    def __check_init__(self):
        check_int_at_least("IncrementalConfig", "n_outer", self.n_outer, 1)
        check_int_at_least("IncrementalConfig", "n_inner", self.n_inner, 1)
        if not float(self.cg_tol) > 0:
            raise ValueError(f"IncrementalConfig got cg_tol={self.cg_tol!r}, expected a value > 0.")


class IncrementalSolution(eqx.Module):
    """Result of incremental 4DVar, with the history of its loops.

    Attributes:
        initial_state: analysed $x_0$; trajectory: `(T, n)` analysed states.
        outer_costs: `(n_outer + 1,)` cost before each outer iteration and at the end.
        outer_grad_norms: `(n_outer + 1,)` gradient norms at the same points.
        inner_iterations: `(n_outer,)` CG iterations of each inner solve.
    """

    initial_state: Float[Array, " n"]
    trajectory: Float[Array, "T n"]
    outer_costs: Float[Array, " k1"]
    outer_grad_norms: Float[Array, " k1"]
    inner_iterations: Int[Array, " k"]

    @property
    def final_state(self) -> Float[Array, " n"]:
        return self.trajectory[..., -1, :]

    @property
    def cost(self) -> Float[Array, ""]:
        return self.outer_costs[-1]


class IncrementalFourDVar(eqx.Module):
    """Incremental (Gauss-Newton) strong-constraint 4DVar.

    Arguments:
        forward: the `ForwardModel` (one step between observation rows).
        obs_op: $H$; prior_cov: $B$; obs_cov: $R$.
        config: an `IncrementalConfig`.
    """

    forward: ForwardModel
    obs_op: ObservationOperator
    prior_cov: lx.AbstractLinearOperator
    obs_cov: lx.AbstractLinearOperator
    config: IncrementalConfig = IncrementalConfig()

    def __check_init__(self):
        who = "IncrementalFourDVar"
        check_forward(who, self.forward)
        check_obs_operator(who, self.obs_op)
        check_covariance(who, "prior_cov", self.prior_cov)
        check_covariance(who, "obs_cov", self.obs_cov)
        if not isinstance(self.config, IncrementalConfig):
            raise TypeError(f"{who} got config of type {type(self.config).__name__}, expected IncrementalConfig.")

    @property
    def state_size(self) -> int:
        return self.prior_cov.in_size()

    @property
    def obs_size(self) -> int:
        return self.obs_cov.in_size()

    def solve(
        self,
        background: Float[ArrayLike, " n"],
        obs: Float[ArrayLike, "T m"],
        mask: Any = None,
        *,
        init: Float[ArrayLike, " n"] | None = None,
    ) -> IncrementalSolution:
        """Run the outer/inner loops over the window `obs` (`(T, m)`, NaN where missing).

        The inner Hessian $G'^\\top G'$ of the whitened residual contains
        $B^{-1}$ (or $I$ with `cvt=True`), so it can only be singular if $B$ or
        $R$ is. Raises `ValueError` when `prior_cov` or `obs_cov` cannot be
        whitened (singular, indefinite), and `FloatingPointError` naming the
        outer iteration when the cost becomes non-finite (a diverging
        trajectory) or the inner CG breaks down (a non-finite increment).
        """
        who = "IncrementalFourDVar"
        xb, y, mask = prepare_window(who, self.forward, self.obs_op, self.state_size, self.obs_size, background, obs, mask)
        x0 = initial_point(who, xb, init)
        sol, (code, k) = self._solve(xb, y, mask, x0)
        if is_concrete(code):
            code, k = int(np.asarray(code)), int(np.asarray(k))
            if code:
                error = ValueError if code in (_SINGULAR_B, _SINGULAR_R) else FloatingPointError
                raise error(f"{who}: " + _FAILURES[code].format(k=k))
            return sol
        messages = [f"{who}: " + _FAILURES[c].format(k="k") for c in sorted(_FAILURES)]
        return eqx.branched_error_if(sol, code > 0, jnp.maximum(code - 1, 0), messages)

    @eqx.filter_jit
    def _solve(self, xb, y, mask, x0):
        cfg = self.config
        n_times = y.shape[0]
        L = Whitener.of(self.prior_cov)
        w_r = window_obs_whiteners(self.obs_cov, mask)

        def to_state(z):
            return xb + L.factor.mv(z) if cfg.cvt else z

        def residuals(z):
            x = to_state(z)
            traj = window(self.forward, x, n_times)
            r_b = z if cfg.cvt else L(x - xb)
            return jnp.concatenate([r_b, window_obs_residuals(traj, y, self.obs_op, w_r, mask).reshape(-1)])

        solver = lx.CG(rtol=cfg.cg_tol, atol=cfg.cg_tol, max_steps=cfg.n_inner)

        def first_failure(status, code, k):
            """Keep the first failure: `status` is (code, outer iteration), code 0 = none."""
            new = (status[0] == 0) & (code > 0)
            return jnp.where(new, jnp.stack([code, k]), status)

        def outer(carry, k):
            z, status = carry
            r, J = jax.linearize(residuals, z)
            JT = jax.linear_transpose(J, z)
            grad = JT(r)[0]
            normal = lx.FunctionLinearOperator(lambda v: JT(J(v))[0], jax.ShapeDtypeStruct(z.shape, z.dtype), COVARIANCE_TAGS)
            inner = lx.linear_solve(normal, -grad, solver, throw=False)
            dz = inner.value
            inner_ok = (inner.result == lx.RESULTS.successful) | (inner.result == lx.RESULTS.max_steps_reached)
            breakdown = ~inner_ok | ~jnp.all(jnp.isfinite(dz)) | ~jnp.all(jnp.isfinite(grad))
            code = jnp.where(~jnp.all(jnp.isfinite(r)), _NONFINITE_COST, jnp.where(breakdown, _CG_BREAKDOWN, 0))
            status = first_failure(status, code, k)
            z_new = jnp.where(status[0] > 0, z, z + dz)
            record = (0.5 * jnp.sum(r**2), jnp.linalg.norm(grad), inner.stats["num_steps"])
            return (z_new, status), record

        ones_n = jnp.ones_like(xb)
        b_ok = jnp.all(jnp.isfinite(L(ones_n))) & jnp.all(jnp.isfinite(L.factor.mv(ones_n)))
        r_ok = jnp.all(jnp.isfinite(jax.vmap(lambda w: w(jnp.ones(y.shape[1], y.dtype)))(w_r)))
        status = jnp.where(b_ok, jnp.where(r_ok, 0, _SINGULAR_R), _SINGULAR_B)
        status = jnp.stack([status, jnp.zeros_like(status)])
        z0 = L(x0 - xb) if cfg.cvt else x0
        (z, status), (costs, grads, iters) = jax.lax.scan(outer, (z0, status), jnp.arange(cfg.n_outer))
        r_end, J_end = jax.linearize(residuals, z)
        g_end = jax.linear_transpose(J_end, z)(r_end)[0]
        status = first_failure(status, jnp.where(jnp.all(jnp.isfinite(r_end)), 0, _NONFINITE_COST), cfg.n_outer)
        x = to_state(z)
        sol = IncrementalSolution(
            initial_state=x,
            trajectory=window(self.forward, x, n_times),
            outer_costs=jnp.concatenate([costs, (0.5 * jnp.sum(r_end**2))[None]]),
            outer_grad_norms=jnp.concatenate([grads, jnp.linalg.norm(g_end)[None]]),
            inner_iterations=iters,
        )
        return sol, (status[0], status[1])

    def analyse(self, background: Float[ArrayLike, " n"], obs: Float[ArrayLike, "T m"], mask: Any = None) -> Float[Array, " n"]:
        """The analysed state at the time of the window's last row."""
        return self.solve(background, obs, mask).final_state

    def as_analysis_step(self) -> VariationalAnalysisStep:
        """This method as an `AnalysisStep` that keeps every setting but $H$ and $R$."""
        return VariationalAnalysisStep(self)
