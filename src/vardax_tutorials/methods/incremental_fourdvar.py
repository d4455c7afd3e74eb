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
    check_shape,
    is_concrete,
    prepare_window,
)
from ..costs import window_obs_whiteners
from ..covariance import COVARIANCE_TAGS, Whitener
from ..models.rollout import window
from ..protocols import ForwardModel, ObservationOperator

__all__ = ["IncrementalConfig", "IncrementalFourDVar", "IncrementalFourDVarAnalysisStep", "IncrementalSolution"]


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

        Raises `FloatingPointError` naming the outer iteration if an increment or
        the cost becomes non-finite (e.g. a singular inner Hessian).
        """
        who = "IncrementalFourDVar"
        xb, y, mask = prepare_window(who, self.forward, self.obs_op, self.state_size, self.obs_size, background, obs, mask)
        x0 = xb if init is None else jnp.asarray(init, xb.dtype)
        check_shape(who, "init", x0, xb.shape, "one state")
        sol, failed_at = self._solve(xb, y, mask, x0)
        if is_concrete(failed_at):
            k = int(np.asarray(failed_at))
            if k >= 0:
                raise FloatingPointError(
                    f"{who}: outer iteration {k} produced a non-finite increment or cost "
                    "(singular or indefinite inner Hessian, or a diverging trajectory); "
                    "check B, R and the window length, or use a shorter window."
                )
        else:
            sol = eqx.error_if(sol, failed_at >= 0, f"{who}: non-finite increment or cost in an outer iteration.")
        return sol

    @eqx.filter_jit
    def _solve(self, xb, y, mask, x0):
        cfg = self.config
        n_times = y.shape[0]
        L = Whitener.of(self.prior_cov)
        w_r = window_obs_whiteners(self.obs_cov, mask)
        y0 = jnp.where(mask, y, 0.0)

        def to_state(z):
            return xb + L.factor.mv(z) if cfg.cvt else z

        def residuals(z):
            x = to_state(z)
            traj = window(self.forward, x, n_times)
            r_o = jnp.where(mask, y0 - jax.vmap(self.obs_op)(traj, mask), 0.0)
            r_b = z if cfg.cvt else L(x - xb)
            return jnp.concatenate([r_b, jax.vmap(lambda w, r: w(r))(w_r, r_o).reshape(-1)])

        solver = lx.CG(rtol=cfg.cg_tol, atol=cfg.cg_tol, max_steps=cfg.n_inner)

        def outer(carry, k):
            z, failed_at = carry
            r, J = jax.linearize(residuals, z)
            JT = jax.linear_transpose(J, z)
            grad = JT(r)[0]
            normal = lx.FunctionLinearOperator(lambda v: JT(J(v))[0], jax.ShapeDtypeStruct(z.shape, z.dtype), COVARIANCE_TAGS)
            inner = lx.linear_solve(normal, -grad, solver, throw=False)
            dz = inner.value
            bad = ~jnp.all(jnp.isfinite(dz)) | ~jnp.all(jnp.isfinite(r))
            failed_at = jnp.where((failed_at < 0) & bad, k, failed_at)
            z_new = jnp.where(failed_at >= 0, z, z + dz)
            record = (0.5 * jnp.sum(r**2), jnp.linalg.norm(grad), inner.stats["num_steps"])
            return (z_new, failed_at), record

        z0 = L(x0 - xb) if cfg.cvt else x0
        (z, failed_at), (costs, grads, iters) = jax.lax.scan(
            outer, (z0, jnp.asarray(-1)), jnp.arange(cfg.n_outer)
        )
        r_end, J_end = jax.linearize(residuals, z)
        g_end = jax.linear_transpose(J_end, z)(r_end)[0]
        bad_end = ~jnp.all(jnp.isfinite(r_end))
        failed_at = jnp.where((failed_at < 0) & bad_end, cfg.n_outer, failed_at)
        x = to_state(z)
        sol = IncrementalSolution(
            initial_state=x,
            trajectory=window(self.forward, x, n_times),
            outer_costs=jnp.concatenate([costs, (0.5 * jnp.sum(r_end**2))[None]]),
            outer_grad_norms=jnp.concatenate([grads, jnp.linalg.norm(g_end)[None]]),
            inner_iterations=iters,
        )
        return sol, failed_at

    def analyse(self, background: Float[ArrayLike, " n"], obs: Float[ArrayLike, "T m"], mask: Any = None) -> Float[Array, " n"]:
        """The analysed state at the time of the window's last row."""
        return self.solve(background, obs, mask).final_state

    def as_analysis_step(self) -> "IncrementalFourDVarAnalysisStep":
        return IncrementalFourDVarAnalysisStep(self.forward, self.prior_cov, self.config)


class IncrementalFourDVarAnalysisStep(eqx.Module):
    """`AnalysisStep` form of `IncrementalFourDVar` (same contract as the other 4DVars)."""

    forward: ForwardModel
    prior_cov: lx.AbstractLinearOperator
    config: IncrementalConfig = IncrementalConfig()

    def __call__(self, forecast, obs, *, obs_op, obs_err_cov, mask=None):
        obs = jnp.asarray(obs)
        if obs.ndim == 1:
            obs = obs[None]
            mask = None if mask is None else jnp.asarray(mask)[None]
        return IncrementalFourDVar(self.forward, obs_op, self.prior_cov, obs_err_cov, self.config).analyse(
            forecast, obs, mask
        )
