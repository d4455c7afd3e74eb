"""The terms of the variational costs, shared by every variational method.

$J(x) = J_b(x) + J_o(x)$ with

    J_b(x) = 1/2 (x - x_b)^T B^{-1} (x - x_b)                  (prior_cost)
    J_o(x) = 1/2 r^T (D R D + I - D)^{-1} r,  r = D (y - H(x))  (obs_cost_1d)

where $D = \\mathrm{diag}(m)$ is the observation mask. The block structure of
$DRD + I - D$ makes $J_o$ exactly the Gaussian log-likelihood of the observed
entries alone, with fixed array shapes. $B^{-1}$ and $R^{-1}$ are applied as
$\\lVert L^{-1}v\\rVert^2$ with $L$ a square root (`vdx.covariance.Whitener`),
so no iterative solve runs inside a cost evaluation. Pass a precomputed
`Whitener` instead of a covariance to factorise only once.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, ArrayLike, Bool, Float, Real

from ._checks import check_values, to_array
from .covariance import COVARIANCE_TAGS, DiagonalCovariance, Whitener
from .covariance.structure import not_whitenable_message

__all__ = [
    "decomposed_loss",
    "masked_obs_cov",
    "obs_cost_1d",
    "obs_residual",
    "prior_cost",
    "window_obs_cost",
    "window_obs_residuals",
    "window_obs_whiteners",
]


def _whitener(cov: Any, who: str, name: str) -> Whitener:
    return cov if isinstance(cov, Whitener) else Whitener.checked(cov, who, name)


def masked_obs_cov(obs_cov: lx.AbstractLinearOperator, mask: Any) -> lx.AbstractLinearOperator:
    """$DRD + (I - D)$: $R$ on the observed block, the identity on the missing one.

    Keeps a diagonal $R$ diagonal; anything else becomes dense.
    """
    m = to_array(mask, bool)
    if lx.is_diagonal(obs_cov):
        d = lx.diagonal(obs_cov)
        return DiagonalCovariance(jnp.where(m, d, jnp.ones_like(d)))
    R = obs_cov.as_matrix()
    mf = m.astype(R.dtype)
    S = mf[:, None] * R * mf[None, :] + jnp.diag(1.0 - mf)
    return lx.MatrixLinearOperator(S, COVARIANCE_TAGS)


def prior_cost(
    x: Real[ArrayLike, " n"], background: Real[ArrayLike, " n"], prior_cov: Any
) -> Float[Array, ""]:
    """$J_b = \\tfrac12 (x - x_b)^\\top B^{-1}(x - x_b)$.

    Arguments:
        x: the state.
        background: $x_b$.
        prior_cov: $B$ as a PSD-tagged lineax operator, or a `Whitener` of it.
    """
    w = _whitener(prior_cov, "prior_cost", "prior_cov")(to_array(x) - to_array(background))
    return 0.5 * jnp.sum(w**2)


def obs_cost_1d(
    x: Real[ArrayLike, " n"],
    obs: Real[ArrayLike, " m"],
    obs_op: Any,
    obs_cov: Any,
    mask: Any = None,
) -> Float[Array, ""]:
    """$J_o = \\tfrac12 r^\\top (DRD + I - D)^{-1} r$ with the symmetric residual $r = D(y - H(x))$.

    Arguments:
        x: the state.
        obs: $y$, NaN where missing.
        obs_op: the observation operator $H$.
        obs_cov: $R$ (the mask is applied here), or a `Whitener` of
            `masked_obs_cov(R, mask)` (used as is).
        mask: True where observed; the finite entries of `obs` by default.
    """
    obs = to_array(obs)
    mask = jnp.isfinite(obs) if mask is None else to_array(mask, bool)
    w = obs_cov if isinstance(obs_cov, Whitener) else Whitener.checked(masked_obs_cov(obs_cov, mask), "obs_cost_1d", "obs_cov")
    return 0.5 * jnp.sum(obs_residual(to_array(x), obs, obs_op, w, mask) ** 2)


def obs_residual(
    x: Real[ArrayLike, " n"], obs: Real[ArrayLike, " m"], obs_op: Any, whitener: Whitener, mask: Any
) -> Float[Array, " m"]:
    """The whitened symmetric residual $L^{-1} D(y - H(x))$, with $LL^\\top = DRD + I - D$.

    `whitener` is a `Whitener` of `masked_obs_cov(R, mask)`; entries of `obs`
    where `mask` is False (NaN or anything) are ignored. $J_o$ is half its
    squared norm; least-squares solvers use it directly.
    """
    y = jnp.where(mask, obs, 0.0)
    return whitener(jnp.where(mask, y - obs_op(x, mask), 0.0))


def decomposed_loss(
    x: Real[ArrayLike, " n"],
    background: Real[ArrayLike, " n"],
    obs: Real[ArrayLike, " m"],
    obs_op: Any,
    prior_cov: Any,
    obs_cov: Any,
    mask: Any = None,
) -> dict[str, Float[Array, ""]]:
    """The 3DVar cost split into its parts: `{"prior": J_b, "obs": J_o, "total": J_b + J_o}`.

    At the optimum of a well-specified linear-Gaussian problem, the expected
    $2J_o$ is $p - \\mathrm{tr}(HK)$ with $p$ the number of observations: the
    split is the first sanity check of a variational analysis.
    """
    jb = prior_cost(x, background, prior_cov)
    jo = obs_cost_1d(x, obs, obs_op, obs_cov, mask)
    return {"prior": jb, "obs": jo, "total": jb + jo}


def window_obs_whiteners(obs_cov: lx.AbstractLinearOperator, mask: Any) -> tuple[Whitener, Bool[Array, ""]]:
    """One `Whitener` per time of a `(T, m)` mask, batched along a leading axis (factorised once).

    Returns the batched whitener and whether every one whitens its masked $R$
    (see `Whitener.whitens`).
    """

    def one(m):
        cov = masked_obs_cov(obs_cov, m)
        w = Whitener.of(cov)
        return w, w.whitens(cov)

    w, ok = jax.vmap(one)(to_array(mask, bool))
    return w, jnp.all(ok)


def window_obs_residuals(
    trajectory: Real[ArrayLike, "T n"], obs: Real[ArrayLike, "T m"], obs_op: Any, whiteners: Whitener, mask: Any
) -> Float[Array, "T m"]:
    """`obs_residual` at every time of a window; `whiteners` from `window_obs_whiteners(R, mask)`."""
    return jax.vmap(lambda x, y, w, m: obs_residual(x, y, obs_op, w, m))(trajectory, obs, whiteners, mask)


def window_obs_cost(
    trajectory: Real[ArrayLike, "T n"],
    obs: Real[ArrayLike, "T m"],
    obs_op: Any,
    obs_cov: Any,
    mask: Any = None,
) -> Float[Array, ""]:
    """$\\sum_t J_o(x_t; y_t)$ over a window: `obs_cost_1d` summed over the rows.

    Arguments:
        trajectory: `(T, n)` states, row t at the time of `obs[t]`.
        obs: `(T, m)` observations, NaN where missing.
        obs_op: the observation operator (the same at every time).
        obs_cov: $R$, or the batched `Whitener` from `window_obs_whiteners(R, mask)`.
        mask: `(T, m)` booleans; the finite entries of `obs` by default.
    """
    obs = to_array(obs)
    mask = jnp.isfinite(obs) if mask is None else to_array(mask, bool)
    if isinstance(obs_cov, Whitener):
        w = obs_cov
    else:
        w, ok = window_obs_whiteners(obs_cov, mask)
        w = check_values(w, ~ok, not_whitenable_message("window_obs_cost", "obs_cov"))
    return 0.5 * jnp.sum(window_obs_residuals(to_array(trajectory), obs, obs_op, w, mask) ** 2)
