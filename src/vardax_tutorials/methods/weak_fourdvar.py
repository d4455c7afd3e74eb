"""Weak-constraint 4DVar: the model may be wrong, and the error is part of the control.

With $x_t = M(x_{t-1}) + \\eta_t$ and $\\eta_t \\sim N(0, Q)$, the control is
$(x_0, \\eta_1, \\dots, \\eta_{T-1})$, of size $n + (T-1)n$, and

    J = 1/2 |x_0 - x_b|^2_{B^{-1}} + sum_t 1/2 |η_t|^2_{Q^{-1}} + sum_t 1/2 |D_t(y_t - H(x_t))|^2_{R^{-1}}.

$Q \\to 0$ recovers strong-constraint 4DVar. With `cvt=True` the control is
whitened, $x_0 = x_b + L_B\\chi$ and $\\eta_t = L_Q\\xi_t$, which balances the
very different scales of $B$ and $Q$ (Trémolet 2006 discusses the formulation).
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
    check_forward,
    check_int_at_least,
    check_minimiser,
    check_minimiser_adjoint,
    check_obs_operator,
    prepare_window,
)
from ..costs import window_obs_residuals, window_obs_whiteners
from ..covariance import Whitener
from ..protocols import ForwardModel, ObservationOperator
from ._common import VariationalAnalysisStep, default_minimiser, half_squared_norms, minimise_residuals

__all__ = ["WeakFourDVar", "WeakFourDVarSolution"]


class WeakFourDVarSolution(eqx.Module):
    """Result of a weak-constraint 4DVar analysis.

    Attributes:
        initial_state: analysed $x_0$.
        model_error: `(T-1, n)` analysed $\\eta_1 \\dots \\eta_{T-1}$.
        trajectory: `(T, n)` analysed states.
        converged, num_steps: the minimiser's report.
        prior_cost, model_error_cost, obs_cost: the three terms at the analysis.
    """

    initial_state: Float[Array, " n"]
    model_error: Float[Array, "T_1 n"]
    trajectory: Float[Array, "T n"]
    converged: Bool[Array, ""]
    num_steps: Int[Array, ""]
    prior_cost: Float[Array, ""]
    model_error_cost: Float[Array, ""]
    obs_cost: Float[Array, ""]

    @property
    def cost(self) -> Float[Array, ""]:
        return self.prior_cost + self.model_error_cost + self.obs_cost

    @property
    def final_state(self) -> Float[Array, " n"]:
        return self.trajectory[..., -1, :]


class WeakFourDVar(eqx.Module):
    """Weak-constraint 4DVar with an additive model error of covariance $Q$.

    Arguments:
        forward: the `ForwardModel` $M$ (one step between observation rows).
        obs_op: $H$; prior_cov: $B$; obs_cov: $R$.
        model_err_cov: $Q$, a PSD-tagged operator of the state's size.
        minimiser: optimistix minimiser (BFGS by default) or least-squares solver.
        max_steps: iteration cap.
        cvt: whiten the control ($\\chi = L_B^{-1}(x_0 - x_b)$, $\\xi_t = L_Q^{-1}\\eta_t$).
        minimiser_adjoint: how the analysis is differentiated with respect to
            its inputs: an optimistix adjoint, `optx.ImplicitAdjoint()` by default.
    """

    forward: ForwardModel
    obs_op: ObservationOperator
    prior_cov: lx.AbstractLinearOperator
    obs_cov: lx.AbstractLinearOperator
    model_err_cov: lx.AbstractLinearOperator
    minimiser: optx.AbstractMinimiser | optx.AbstractLeastSquaresSolver | None = None
    max_steps: int = eqx.field(default=1000, static=True)
    cvt: bool = eqx.field(default=False, static=True)
    minimiser_adjoint: optx.AbstractAdjoint = optx.ImplicitAdjoint()

    def __check_init__(self):
        who = "WeakFourDVar"
        check_forward(who, self.forward)
        check_obs_operator(who, self.obs_op)
        check_covariance(who, "prior_cov", self.prior_cov)
        check_covariance(who, "obs_cov", self.obs_cov)
        check_covariance(who, "model_err_cov", self.model_err_cov, self.prior_cov.in_size())
        check_minimiser(who, self.minimiser)
        check_int_at_least(who, "max_steps", self.max_steps, 1)
        check_minimiser_adjoint(who, self.minimiser_adjoint)

    @property
    def state_size(self) -> int:
        return self.prior_cov.in_size()

    @property
    def obs_size(self) -> int:
        return self.obs_cov.in_size()

    def trajectory(self, x0: Float[ArrayLike, " n"], model_error: Float[ArrayLike, "T_1 n"]) -> Float[Array, "T n"]:
        """$x_t = M(x_{t-1}) + \\eta_t$ from $x_0$, as a `lax.scan`."""

        def body(x, eta):
            x = self.forward.step(x, self.forward.dt) + eta
            return x, x

        x0 = jnp.asarray(x0)
        _, traj = jax.lax.scan(body, x0, jnp.asarray(model_error))
        return jnp.concatenate([x0[None], traj])

    def solve(
        self, background: Float[ArrayLike, " n"], obs: Float[ArrayLike, "T m"], mask: Any = None
    ) -> WeakFourDVarSolution:
        """Minimise $J(x_0, \\eta)$ over the window `obs` (`(T, m)`, NaN where missing)."""
        xb, y, mask = prepare_window(
            "WeakFourDVar", self.forward, self.obs_op, self.state_size, self.obs_size, background, obs, mask
        )
        return self._solve(xb, y, mask)

    @eqx.filter_jit
    def _solve(self, xb, y, mask) -> WeakFourDVarSolution:
        L_b, L_q = Whitener.of(self.prior_cov), Whitener.of(self.model_err_cov)
        w_r = window_obs_whiteners(self.obs_cov, mask)
        n_times, n = y.shape[0], xb.shape[0]

        def unpack(z):
            chi, xi = z
            if self.cvt:
                return xb + L_b.factor.mv(chi), jax.vmap(L_q.factor.mv)(xi)
            return chi, xi

        def residuals_of(z, traj):
            x0, eta = unpack(z)
            r_b = z[0] if self.cvt else L_b(x0 - xb)
            r_q = z[1] if self.cvt else jax.vmap(L_q)(eta)
            return r_b, r_q, window_obs_residuals(traj, y, self.obs_op, w_r, mask)

        z0 = (jnp.zeros_like(xb) if self.cvt else xb, jnp.zeros((n_times - 1, n), xb.dtype))
        solver = default_minimiser(xb.dtype, 1e-9, 1e-5) if self.minimiser is None else self.minimiser
        sol = minimise_residuals(
            lambda z: residuals_of(z, self.trajectory(*unpack(z))),
            solver,
            z0,
            max_steps=self.max_steps,
            adjoint=self.minimiser_adjoint,
        )
        x0, eta = unpack(sol.value)
        traj = self.trajectory(x0, eta)
        prior_cost, model_error_cost, obs_cost = half_squared_norms(*residuals_of(sol.value, traj))
        return WeakFourDVarSolution(
            initial_state=x0,
            model_error=eta,
            trajectory=traj,
            converged=sol.result == optx.RESULTS.successful,
            num_steps=jnp.asarray(sol.stats["num_steps"]),
            prior_cost=prior_cost,
            model_error_cost=model_error_cost,
            obs_cost=obs_cost,
        )

    def analyse(self, background: Float[ArrayLike, " n"], obs: Float[ArrayLike, "T m"], mask: Any = None) -> Float[Array, " n"]:
        """The analysed state at the time of the window's last row."""
        return self.solve(background, obs, mask).final_state

    def as_analysis_step(self) -> VariationalAnalysisStep:
        """This method as an `AnalysisStep` that keeps every setting but $H$ and $R$."""
        return VariationalAnalysisStep(self)
