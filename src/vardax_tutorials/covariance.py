"""Covariance matrices as positive-semidefinite-tagged lineax operators.

Every covariance in the library (B for the background, R for the observations)
is a `lineax.AbstractLinearOperator` carrying `lx.positive_semidefinite_tag` and
`lx.symmetric_tag`. The tags are what let `lx.CG` and `lx.Cholesky` accept the
operator, and the structure (diagonal, dense) is what makes $B^{-1}v$ cheap: a
diagonal inverse is an elementwise division, never an iterative solve.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_ndim, is_concrete

__all__ = ["COVARIANCE_TAGS", "DiagonalCovariance", "dense_covariance", "diagonal_covariance", "matern_covariance"]

COVARIANCE_TAGS = frozenset({lx.symmetric_tag, lx.positive_semidefinite_tag})
_MATERN_NUS = (0.5, 1.5, 2.5)


def diagonal_covariance(variances: Float[ArrayLike, " n"]) -> "DiagonalCovariance":
    """Diagonal covariance $\\mathrm{diag}(\\sigma_1^2, \\dots, \\sigma_n^2)$.

    Arguments:
        variances: the $n$ variances, all strictly positive.

    Returns:
        A `DiagonalCovariance`: a `lx.DiagonalLinearOperator` that lineax knows
        to be symmetric and positive semidefinite.
    """
    variances = jnp.asarray(variances)
    if not jnp.issubdtype(variances.dtype, jnp.floating):
        variances = variances.astype(jnp.zeros(()).dtype)
    check_ndim("diagonal_covariance", "variances", variances, 1, "of shape (n,)")
    if is_concrete(variances):
        bad = ~(variances > 0) | ~jnp.isfinite(variances)
        if bool(jnp.any(bad)):
            i = int(jnp.argmax(bad))
            raise ValueError(
                f"diagonal_covariance got variances[{i}] = {float(variances[i])}, "
                "expected every variance to be finite and > 0."
            )
    return DiagonalCovariance(variances)


def dense_covariance(
    matrix: Float[ArrayLike, "n n"], *, check: bool = True, rtol: float = 1e-6
) -> lx.MatrixLinearOperator:
    """Dense covariance from a symmetric positive-semidefinite matrix.

    Arguments:
        matrix: an `(n, n)` symmetric positive-semidefinite matrix.
        check: verify symmetry and the sign of the eigenvalues (when the matrix
            is concrete, i.e. not inside `jax.jit`).
        rtol: tolerance of those checks, relative to the largest entry.

    Returns:
        A `lx.MatrixLinearOperator` tagged symmetric and positive semidefinite.
    """
    matrix = jnp.asarray(matrix)
    if not jnp.issubdtype(matrix.dtype, jnp.floating):
        matrix = matrix.astype(jnp.zeros(()).dtype)
    check_ndim("dense_covariance", "matrix", matrix, 2, "of shape (n, n)")
    n, m = matrix.shape
    if n != m:
        raise ValueError(
            f"dense_covariance got matrix of shape {(n, m)}, expected a square (n, n) matrix."
        )
    if check and is_concrete(matrix):
        a = np.asarray(matrix, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError("dense_covariance got a matrix with non-finite entries.")
        scale = max(float(np.max(np.abs(a))), np.finfo(np.float64).tiny)
        asym = float(np.max(np.abs(a - a.T)))
        if asym > rtol * scale:
            raise ValueError(
                f"dense_covariance got a non-symmetric matrix: max |M - M^T| = {asym:.3g}, "
                f"expected <= {rtol * scale:.3g}."
            )
        lam_min = float(np.linalg.eigvalsh(0.5 * (a + a.T))[0])
        if lam_min < -rtol * scale:
            raise ValueError(
                f"dense_covariance got a matrix that is not positive semidefinite: "
                f"smallest eigenvalue {lam_min:.3g}, expected >= 0."
            )
    return lx.MatrixLinearOperator(matrix, COVARIANCE_TAGS)


def matern_covariance(
    coords: Float[ArrayLike, "n *d"],
    *,
    variance: float = 1.0,
    length_scale: float = 1.0,
    nu: float = 1.5,
    period: float | None = None,
) -> lx.MatrixLinearOperator:
    """Matérn covariance $\\sigma^2 k_\\nu(r/\\ell)$ between grid points.

    $k_{1/2}(s)=e^{-s}$, $k_{3/2}(s)=(1+\\sqrt3 s)e^{-\\sqrt3 s}$,
    $k_{5/2}(s)=(1+\\sqrt5 s+\\tfrac53 s^2)e^{-\\sqrt5 s}$, with $r$ the Euclidean
    distance (the chord distance on a periodic domain, which keeps the matrix
    positive semidefinite for every $\\nu$).

    Arguments:
        coords: `(n,)` positions on a line or `(n, d)` points.
        variance: $\\sigma^2 > 0$.
        length_scale: $\\ell > 0$.
        nu: smoothness, one of 0.5, 1.5, 2.5.
        period: the domain length for a periodic 1-D grid, or `None`.

    Returns:
        A dense PSD-tagged operator (Rasmussen and Williams 2006, eq. 4.14).
    """
    who = "matern_covariance"
    if nu not in _MATERN_NUS:
        raise ValueError(f"{who} got nu={nu!r}, expected one of {_MATERN_NUS}.")
    for name, value in (("variance", variance), ("length_scale", length_scale)):
        if not (math.isfinite(float(value)) and float(value) > 0):
            raise ValueError(f"{who} got {name}={value!r}, expected a finite value > 0.")
    coords = jnp.asarray(coords)
    if not jnp.issubdtype(coords.dtype, jnp.floating):
        coords = coords.astype(jnp.zeros(()).dtype)
    if coords.ndim == 1:
        coords = coords[:, None]
    if coords.ndim != 2:
        raise ValueError(f"{who} got coords of shape {coords.shape}, expected (n,) or (n, d).")
    diff = coords[:, None, :] - coords[None, :, :]
    if period is not None:
        if coords.shape[1] != 1:
            raise ValueError(f"{who} supports period= only for 1-D coords, got shape {coords.shape}.")
        diff = (period / jnp.pi) * jnp.sin(jnp.pi * diff / period)
    r = jnp.sqrt(jnp.sum(diff**2, axis=-1))
    s = r / length_scale
    if nu == 0.5:
        k = jnp.exp(-s)
    elif nu == 1.5:
        k = (1 + math.sqrt(3) * s) * jnp.exp(-math.sqrt(3) * s)
    else:
        k = (1 + math.sqrt(5) * s + 5.0 / 3.0 * s**2) * jnp.exp(-math.sqrt(5) * s)
    return lx.MatrixLinearOperator(variance * k, COVARIANCE_TAGS)


class DiagonalCovariance(lx.DiagonalLinearOperator):
    """A `lx.DiagonalLinearOperator` known to be positive semidefinite.

    Build it with `diagonal_covariance`, which checks the variances. lineax sees
    a diagonal operator (so `lx.AutoLinearSolver` divides elementwise) that is
    also symmetric and positive semidefinite (so `lx.CG` accepts it).
    """


@lx.is_positive_semidefinite.register(DiagonalCovariance)
def _(op):
    return True


@lx.is_symmetric.register(DiagonalCovariance)
def _(op):
    return True
