"""Incremental 4DVar: Gauss-Newton outer loops, conjugate-gradient inner loops.

Each outer iteration $k$ linearises the whole window about the current
trajectory (`jax.linearize`, so the tangent-linear model $M'$ and $H'$ are
included) and solves the quadratic inner problem for the increment,

    (B^{-1} + sum_t G_t^T W_t G_t) δx = -∇J(x^k),   G_t = H'_t M'_{t<-0},   W_t = D_t R~_t^{-1} D_t,

with `lineax.CG` on a PSD-tagged `FunctionLinearOperator` built from the
linearised window and its transpose (the adjoint). With the control-variable
transform (`cvt=True`) the unknown is $\\chi = L_B^{-1}(x_0 - x_b)$ with
$L_B$ = `vdx.covariance.sqrt(B)`, and the inner Hessian becomes
$I + L_B^\\top (\\sum_t G_t^\\top W_t G_t) L_B$, much better conditioned (Courtier et al. 1994).
"""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import (
    Index,
    cast_floating,
    check_forward,
    index_at_least,
    initial_point,
    is_concrete,
    positive_parameter,
    prepare_window,
)
from ..costs import window_obs_residuals, window_obs_whiteners
from ..covariance import COVARIANCE_TAGS, Whitener
from ..models.rollout import trajectory
from ..protocols import ForwardModel, ObservationOperator
from .base import (
    BREAKDOWN,
    NOT_CONVERGED,
    NOT_FINITE,
    OBS_COV,
    PRIOR_COV,
    AbstractAnalysisMethod,
    WindowSolution,
    failure_code,
    finish,
)

__all__ = ["IncrementalConfig", "IncrementalFourDVar"]


class IncrementalConfig(eqx.Module):
    """Loop settings of `IncrementalFourDVar`.

    Arguments:
        n_outer: Gauss-Newton (outer) iterations, at least 1.
        n_inner: cap on conjugate-gradient iterations per inner solve.
        cg_tol: relative and absolute tolerance of the inner CG, > 0.
        cvt: solve for the whitened control $\\chi = L_B^{-1}(x_0 - x_b)$.
        gtol: the analysis counts as converged when the gradient norm after the
            last outer iteration is at most `gtol` times the first one (or at
            rounding level, $\\sqrt{\\epsilon}\\max(1, \\lVert r\\rVert)$), > 0.
    """

    n_outer: Index = eqx.field(default=4, static=True, converter=lambda k: index_at_least("IncrementalConfig", "n_outer", k, 1))
    n_inner: Index = eqx.field(default=100, static=True, converter=lambda k: index_at_least("IncrementalConfig", "n_inner", k, 1))
    cg_tol: Float[Array, ""] = eqx.field(default=1e-8, converter=positive_parameter("IncrementalConfig", "cg_tol"))
    cvt: bool = eqx.field(default=True, static=True)
    gtol: Float[Array, ""] = eqx.field(default=1e-3, converter=positive_parameter("IncrementalConfig", "gtol"))


class IncrementalFourDVar(AbstractAnalysisMethod):
    """Incremental (Gauss-Newton) strong-constraint 4DVar.

    Arguments:
        forward: the `ForwardModel` (one step between observation rows).
        obs_op: $H$; prior_cov: $B$; obs_cov: $R$.
        config: an `IncrementalConfig`.
        throw: raise when the cost becomes non-finite, the inner CG breaks down
            or the gradient did not fall by `config.gtol` (default), or return
            the solution with `converged=False`.

    `solve` returns a `WindowSolution` whose `num_steps` is `n_outer` and whose
    `stats` hold `outer_costs` and `outer_grad_norms` (`(n_outer + 1,)`: before
    each outer iteration and at the end) and `inner_iterations` (`(n_outer,)`).
    """

    forward: ForwardModel
    obs_op: ObservationOperator
    prior_cov: lx.AbstractLinearOperator
    obs_cov: lx.AbstractLinearOperator
    config: IncrementalConfig = IncrementalConfig()
    throw: bool = eqx.field(default=True, static=True)
    windowed: ClassVar[bool] = True

    def __check_init__(self):
        who = "IncrementalFourDVar"
        check_forward(who, self.forward)
        if not isinstance(self.config, IncrementalConfig):
            raise TypeError(f"{who} got config of type {type(self.config).__name__}, expected IncrementalConfig.")

    def solve(
        self,
        background: Real[ArrayLike, " n"],
        obs: Real[ArrayLike, "T m"],
        mask: Any = None,
        *,
        init: Real[ArrayLike, " n"] | None = None,
    ) -> WindowSolution:
        """Run the outer/inner loops over the window `obs` (`(T, m)`, NaN where missing).

        The inner Hessian $G'^\\top G'$ of the whitened residual contains
        $B^{-1}$ (or $I$ with `cvt=True`), so it can only be singular if $B$ or
        $R$ is. Raises `ValueError` when `prior_cov` or `obs_cov` cannot be
        whitened (singular, indefinite), and, with `throw=True`,
        `FloatingPointError` when the cost becomes non-finite (a diverging
        trajectory) or the inner CG breaks down (a non-finite increment), and
        `RuntimeError` when the gradient did not fall by `config.gtol`; eager
        messages name the outer iteration.
        """
        who = "IncrementalFourDVar"
        xb, y, mask = prepare_window(who, self.forward, self.obs_op, self.state_size, self.obs_size, background, obs, mask)
        x0 = initial_point(who, xb, init)
        sol, code, k = self._solve(xb, y, mask, x0)
        detail = None
        if is_concrete(k) and int(np.asarray(code)) in (NOT_FINITE, BREAKDOWN):
            k = int(np.asarray(k))
            where = {0: ", the window run from the starting point", self.config.n_outer: ", the run at the result"}
            detail = f"outer iteration {k}" + where.get(k, "")
        return finish(self, sol, code, detail)

    @eqx.filter_jit
    def _solve(self, xb, y, mask, x0):
        self = cast_floating(self, xb.dtype)
        cfg = self.config
        n_times = y.shape[0]
        L = Whitener.of(self.prior_cov)
        w_r, r_ok = window_obs_whiteners(self.obs_cov, mask)

        def to_state(z):
            return xb + L.factor.mv(z) if cfg.cvt else z

        def residuals(z):
            x = to_state(z)
            traj = trajectory(self.forward, x, n_times)
            r_b = z if cfg.cvt else L(x - xb)
            r = jnp.concatenate([r_b, window_obs_residuals(traj, y, self.obs_op, w_r, mask).reshape(-1)])
            return r, traj

        solver = lx.CG(rtol=cfg.cg_tol, atol=cfg.cg_tol, max_steps=cfg.n_inner)

        def first_failure(status, code, k):
            """Keep the first failure: `status` is (code, outer iteration), code 0 = none."""
            new = (status[0] == 0) & (code > 0)
            return jnp.where(new, jnp.stack([code, k]), status)

        def inner_solve(J, JT, grad):
            """The increment of one outer iteration: CG on the Gauss-Newton system."""
            normal = lx.FunctionLinearOperator(lambda v: JT(J(v))[0], jax.ShapeDtypeStruct(grad.shape, grad.dtype), COVARIANCE_TAGS)
            inner = lx.linear_solve(normal, -grad, solver, throw=False)
            dz = inner.value
            inner_ok = (inner.result == lx.RESULTS.successful) | (inner.result == lx.RESULTS.max_steps_reached)
            breakdown = ~inner_ok | ~jnp.all(jnp.isfinite(dz)) | ~jnp.all(jnp.isfinite(grad))
            return dz, breakdown, jnp.asarray(inner.stats["num_steps"], jnp.int32)

        def no_solve(grad):
            return jnp.zeros_like(grad), jnp.array(False), jnp.array(0, jnp.int32)

        # Iteration k linearises the window at z^k; iterations 0..n_outer-1 then
        # solve for an increment, and the last one (k = n_outer) only reports the
        # cost, gradient and trajectory at the result. One copy of the tangent
        # linear and adjoint window in the compiled program, not two.
        def outer(carry, k):
            z, status, _, _ = carry
            r, J, traj = jax.linearize(residuals, z, has_aux=True)
            JT = jax.linear_transpose(J, z)
            grad = JT(r)[0]
            dz, breakdown, n_inner = jax.lax.cond(k < cfg.n_outer, lambda g: inner_solve(J, JT, g), no_solve, grad)
            code = failure_code((~jnp.all(jnp.isfinite(r)), NOT_FINITE), (breakdown, BREAKDOWN))
            status = first_failure(status, code, k)
            z_new = jnp.where(status[0] > 0, z, z + dz)
            record = (0.5 * jnp.sum(r**2), jnp.linalg.norm(grad), n_inner)
            return (z_new, status, r, traj), record

        code = failure_code((~L.whitens(self.prior_cov), PRIOR_COV), (~r_ok, OBS_COV))
        z0 = L(x0 - xb) if cfg.cvt else x0
        # placeholders for the residuals (n + T m,) and trajectory (T, n) the scan carries out
        r0, traj0 = jnp.zeros(z0.size + y.size, z0.dtype), jnp.zeros((n_times, xb.shape[0]), xb.dtype)
        init = (z0, jnp.stack([code, jnp.zeros_like(code)]), r0, traj0)
        (z, status, r_end, traj), (costs, grad_norms, iters) = jax.lax.scan(outer, init, jnp.arange(cfg.n_outer + 1))
        # converged: the gradient fell by gtol, or is at rounding level (a start at the minimum)
        floor = jnp.sqrt(jnp.finfo(xb.dtype).eps) * jnp.maximum(1.0, jnp.linalg.norm(r_end))
        stalled = ~((grad_norms[-1] <= cfg.gtol * grad_norms[0]) | (grad_norms[-1] <= floor))
        code = jnp.where(status[0] > 0, status[0], jnp.where(stalled, NOT_CONVERGED, 0))
        x = to_state(z)
        solution = WindowSolution(
            initial_state=x,
            trajectory=traj,
            converged=code == 0,
            num_steps=jnp.asarray(cfg.n_outer),
            prior_cost=0.5 * jnp.sum(r_end[: xb.shape[0]] ** 2),
            obs_cost=0.5 * jnp.sum(r_end[xb.shape[0]:] ** 2),
            model_error_cost=jnp.zeros((), xb.dtype),
            stats={"outer_costs": costs, "outer_grad_norms": grad_norms, "inner_iterations": iters[:-1]},
        )
        return solution, code, status[1]
