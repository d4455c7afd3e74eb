"""Plumbing the variational methods share: calling optimistix on whitened residuals.

No data-assimilation maths lives here (that is in `costs.py`, `covariance/` and
`obs/`): only how a method hands its whitened residuals to an optimistix
solver, with the autodiff mode the window's diffrax adjoint allows.

Optimistix needs no help to minimise a cost whose window runs under a diffrax
adjoint. BFGS and the other gradient methods linearise the cost
(`jax.linearize`) and transpose the linearisation (`autodiff_mode="bwd"`, the
default), which works through the custom VJPs of `RecursiveCheckpointAdjoint`
and `BacksolveAdjoint`; `ForwardMode` cannot be transposed, so it gets
`autodiff_mode="fwd"`. Least-squares solvers build the Jacobian of the
residuals in forward mode by default (`jac="fwd"`), which custom VJPs refuse,
so they get `jac="bwd"` under those two adjoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffrax as dfx
import jax
import jax.numpy as jnp
import optimistix as optx


def default_minimiser(dtype: Any, tol64: float, tol32: float) -> optx.AbstractMinimiser:
    """BFGS with tolerances suited to the floating precision `dtype`."""
    tol = tol64 if jnp.finfo(dtype).bits == 64 else tol32
    return optx.BFGS(rtol=tol, atol=tol)


def solver_options(solver: Any, forward_adjoint: Any) -> dict[str, str]:
    """The optimistix `options` that let `solver` differentiate a window run under `forward_adjoint`."""
    reverse_only = isinstance(forward_adjoint, (dfx.RecursiveCheckpointAdjoint, dfx.BacksolveAdjoint))
    if isinstance(solver, optx.AbstractLeastSquaresSolver):
        return {"jac": "bwd"} if reverse_only else {}
    return {"autodiff_mode": "fwd"} if isinstance(forward_adjoint, dfx.ForwardMode) else {}


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
    themselves; a minimiser sees $J$. `adjoint` is the optimistix adjoint that
    differentiates the solution with respect to whatever the residuals close
    over (background, observations, covariances, model parameters).
    `throw=False`: the method reports failures itself.
    """
    options = solver_options(solver, forward_adjoint)
    if isinstance(solver, optx.AbstractLeastSquaresSolver):
        return optx.least_squares(
            lambda z, _: residuals(z), solver, z0, options=options, max_steps=max_steps, adjoint=adjoint, throw=False
        )

    def cost(z, _):
        return 0.5 * sum(jnp.sum(r**2) for r in jax.tree_util.tree_leaves(residuals(z)))

    return optx.minimise(cost, solver, z0, options=options, max_steps=max_steps, adjoint=adjoint, throw=False)


def half_squared_norms(*parts: Any) -> tuple:
    """$\\tfrac12\\lVert r\\rVert^2$ of each residual block (the cost terms of a solution)."""
    return tuple(0.5 * sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(r)) for r in parts)
