"""Plumbing the variational methods share: calling optimistix, and the analysis-step form.

No data-assimilation maths lives here (that is in `costs.py`, `covariance/` and
`obs/`): only how a method hands its whitened residuals to an optimistix solver,
and how it becomes an `AnalysisStep`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx

from ..adjoints import adjoint_gradient


def default_minimiser(dtype: Any, tol64: float, tol32: float) -> optx.AbstractMinimiser:
    """BFGS with tolerances suited to the floating precision `dtype`."""
    tol = tol64 if jnp.finfo(dtype).bits == 64 else tol32
    return optx.BFGS(rtol=tol, atol=tol)


def needs_gradient_rule(forward_adjoint: Any) -> bool:
    """Whether a cost through this diffrax adjoint must get its JVP from its gradient.

    `None` (a `lax.scan`) and `DirectAdjoint` can be linearised and transposed, so
    optimistix differentiates them as they are (to any order, which is what
    differentiating an analysis through `minimiser_adjoint` needs).
    `RecursiveCheckpointAdjoint` and `BacksolveAdjoint` are custom VJPs (no
    forward mode) and `ForwardMode` cannot be transposed: those costs go through
    `adjoint_gradient`.
    """
    return forward_adjoint is not None and not isinstance(forward_adjoint, dfx.DirectAdjoint)


def minimise_residuals(
    residuals: Callable[[Any], tuple],
    solver: optx.AbstractMinimiser | optx.AbstractLeastSquaresSolver,
    z0: Any,
    *,
    max_steps: int,
    adjoint: optx.AbstractAdjoint,
    forward_adjoint: Any = None,
) -> optx.Solution:
    """Minimise $J(z) = \\tfrac12 \\sum_i \\lVert r_i(z)\\rVert^2$ for whitened residuals `residuals(z)`.

    A least-squares solver (Gauss-Newton, Levenberg-Marquardt) sees the residuals
    themselves; a minimiser sees $J$, wrapped by `adjoint_gradient` when the
    window's `forward_adjoint` needs it. `adjoint` is the optimistix adjoint that
    differentiates the solution with respect to whatever the residuals close
    over (background, observations, covariances).
    """
    if isinstance(solver, optx.AbstractLeastSquaresSolver):
        return optx.least_squares(
            lambda z, _: residuals(z), solver, z0, max_steps=max_steps, adjoint=adjoint, throw=False
        )

    def cost(z):
        return 0.5 * sum(jnp.sum(r**2) for r in jax.tree_util.tree_leaves(residuals(z)))

    if needs_gradient_rule(forward_adjoint):
        cost = adjoint_gradient(cost, forward_mode=isinstance(forward_adjoint, dfx.ForwardMode))
    return optx.minimise(lambda z, _: cost(z), solver, z0, max_steps=max_steps, adjoint=adjoint, throw=False)


def half_squared_norms(*parts: Any) -> tuple:
    """$\\tfrac12\\lVert r\\rVert^2$ of each residual block (the cost terms of a solution)."""
    return tuple(0.5 * jnp.sum(r**2) for r in parts)


class VariationalAnalysisStep(eqx.Module):
    """A variational method as an `AnalysisStep`: $H$ and $R$ come with each call.

    Holds the method (`ThreeDVar`, `StrongFourDVar`, `WeakFourDVar`,
    `IncrementalFourDVar`); each call rebuilds it with the `obs_op` and
    `obs_err_cov` it is handed, so its constructor checks them, and every other
    setting is kept. `forecast` is the background at the time of `obs` (of its
    row 0 for a 4DVar window, where a single `(m,)` row is a window of one);
    returns the analysed state at the time of the last row.
    """

    method: Any

    def __call__(self, forecast: Any, obs: Any, *, obs_op: Any, obs_err_cov: Any, mask: Any = None) -> Any:
        obs = jnp.asarray(obs)
        if hasattr(self.method, "forward") and obs.ndim == 1:
            obs = obs[None]
            mask = None if mask is None else jnp.asarray(mask)[None]
        method = dataclasses.replace(self.method, obs_op=obs_op, obs_cov=obs_err_cov)
        return method.analyse(forecast, obs, mask)
