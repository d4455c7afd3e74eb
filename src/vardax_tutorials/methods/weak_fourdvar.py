"""Weak-constraint 4DVar: the model may be wrong, and the error is part of the control.

With $x_t = M(x_{t-1}) + \\eta_t$ and $\\eta_t \\sim N(0, Q)$, the control is
$(x_0, \\eta_1, \\dots, \\eta_{T-1})$, of size $n + (T-1)n$, and

    J = 1/2 |x_0 - x_b|^2_{B^{-1}} + sum_t 1/2 |η_t|^2_{Q^{-1}} + sum_t 1/2 |D_t(y_t - H(x_t))|^2_{R~_t^{-1}},

with $\\tilde R_t = D_t R D_t + I - D_t$ (the observed block of $R$ inverted; see
`costs.masked_obs_cov`).

$Q \\to 0$ recovers strong-constraint 4DVar. With `cvt=True` the control is
whitened, $x_0 = x_b + L_B\\chi$ and $\\eta_t = L_Q\\chi_t$, which balances the
very different scales of $B$ and $Q$ (Trémolet 2006 discusses the formulation).
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
    check_covariance,
    check_forward,
    check_minimiser,
    check_minimiser_adjoint,
    check_shape,
    index_at_least,
    prepare_window,
    to_array,
)
from ..costs import window_obs_residuals, window_obs_whiteners
from ..covariance import Whitener
from ..models.base import stepper
from ..protocols import ForwardModel, ObservationOperator
from ._common import default_minimiser, half_squared_norms, minimise_residuals
from .base import (
    MODEL_ERR_COV,
    NOT_CONVERGED,
    NOT_FINITE,
    OBS_COV,
    PRIOR_COV,
    AbstractAnalysisMethod,
    WindowSolution,
    failure_code,
    finish,
)

__all__ = ["WeakFourDVar"]


def _trajectory(forward, x0, model_error):
    step = stepper(forward)

    def body(x, eta):
        x = step(x, forward.dt) + eta
        return x, x

    _, traj = jax.lax.scan(body, x0, model_error)
    return jnp.concatenate([x0[None], traj])


class WeakFourDVar(AbstractAnalysisMethod):
    """Weak-constraint 4DVar with an additive model error of covariance $Q$.

    Arguments:
        forward: the `ForwardModel` $M$ (one step between observation rows).
        obs_op: $H$; prior_cov: $B$; obs_cov: $R$.
        model_err_cov: $Q$, a PSD-tagged, positive-definite operator of the state's size.
        minimiser: optimistix minimiser (BFGS by default) or least-squares solver.
        max_steps: iteration cap.
        cvt: whiten the control ($\\chi = L_B^{-1}(x_0 - x_b)$, $\\chi_t = L_Q^{-1}\\eta_t$).
        minimiser_adjoint: how the analysis is differentiated with respect to
            its inputs: an optimistix adjoint, `optx.ImplicitAdjoint()` by default.
        throw: raise when the minimiser does not converge or the cost is not
            finite (default), or return the solution with `converged=False`.

    `solve` returns a `WindowSolution` with `model_error` $(\\eta_1, \\dots,
    \\eta_{T-1})$ and `model_error_cost` $J_q$.
    """

    forward: ForwardModel
    obs_op: ObservationOperator
    prior_cov: lx.AbstractLinearOperator
    obs_cov: lx.AbstractLinearOperator
    model_err_cov: lx.AbstractLinearOperator
    minimiser: optx.AbstractMinimiser | optx.AbstractLeastSquaresSolver | None = None
    max_steps: Index = eqx.field(default=1000, static=True, converter=lambda k: index_at_least("WeakFourDVar", "max_steps", k, 1))
    cvt: bool = eqx.field(default=False, static=True)
    minimiser_adjoint: optx.AbstractAdjoint = optx.ImplicitAdjoint()
    throw: bool = eqx.field(default=True, static=True)
    windowed: ClassVar[bool] = True

    def __check_init__(self):
        who = "WeakFourDVar"
        check_forward(who, self.forward)
        check_covariance(who, "model_err_cov", self.model_err_cov, self.prior_cov.in_size())
        check_minimiser(who, self.minimiser)
        check_minimiser_adjoint(who, self.minimiser_adjoint, self.minimiser)

    def trajectory(self, x0: Real[ArrayLike, " n"], model_error: Real[ArrayLike, "T_1 n"]) -> Float[Array, "T n"]:
        """$x_t = M(x_{t-1}) + \\eta_t$ from $x_0$, as a `lax.scan`."""
        x0, model_error = to_array(x0), to_array(model_error)
        who = "WeakFourDVar.trajectory"
        check_shape(who, "x0", x0, (self.state_size,), "one state")
        if model_error.ndim != 2 or model_error.shape[1] != self.state_size:
            raise ValueError(
                f"{who} got model_error of shape {model_error.shape}, expected (T - 1, {self.state_size})."
            )
        return _trajectory(cast_floating(self.forward, x0.dtype), x0, model_error.astype(x0.dtype))

    def solve(
        self, background: Real[ArrayLike, " n"], obs: Real[ArrayLike, "T m"], mask: Any = None
    ) -> WindowSolution:
        """Minimise $J(x_0, \\eta)$ over the window `obs` (`(T, m)`, NaN where missing)."""
        xb, y, mask = prepare_window(
            "WeakFourDVar", self.forward, self.obs_op, self.state_size, self.obs_size, background, obs, mask
        )
        return finish(self, *self._solve(xb, y, mask))

    @eqx.filter_jit
    def _solve(self, xb, y, mask):
        self = cast_floating(self, xb.dtype)
        L_b, L_q = Whitener.of(self.prior_cov), Whitener.of(self.model_err_cov)
        w_r, r_ok = window_obs_whiteners(self.obs_cov, mask)
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
            lambda z: residuals_of(z, _trajectory(self.forward, *unpack(z))),
            solver,
            z0,
            max_steps=self.max_steps,
            adjoint=self.minimiser_adjoint,
        )
        x0, eta = unpack(sol.value)
        traj = _trajectory(self.forward, x0, eta)
        prior_cost, model_error_cost, obs_cost = half_squared_norms(*residuals_of(sol.value, traj))
        code = failure_code(
            (~L_b.whitens(self.prior_cov), PRIOR_COV),
            (~r_ok, OBS_COV),
            (~L_q.whitens(self.model_err_cov), MODEL_ERR_COV),
            (~(jnp.isfinite(prior_cost + model_error_cost + obs_cost) & jnp.all(jnp.isfinite(traj))), NOT_FINITE),
            (sol.result != optx.RESULTS.successful, NOT_CONVERGED),
        )
        solution = WindowSolution(
            initial_state=x0,
            trajectory=traj,
            converged=code == 0,
            num_steps=jnp.asarray(sol.stats["num_steps"]),
            prior_cost=prior_cost,
            obs_cost=obs_cost,
            model_error=eta,
            model_error_cost=model_error_cost,
        )
        return solution, code
