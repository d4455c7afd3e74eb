"""Diagonal and dense covariances, checked and tagged positive semidefinite.

Every covariance in the library (B for the background, R for the observations)
is a `lineax.AbstractLinearOperator` carrying `lx.positive_semidefinite_tag` and
`lx.symmetric_tag`. The tags are what let `lx.CG` and `lx.Cholesky` accept the
operator, and the structure (diagonal, dense) is what makes $B^{-1}v$ cheap: a
diagonal inverse is an elementwise division, never an iterative solve.
"""

from __future__ import annotations

import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import ArrayLike, Float

from .._checks import check_ndim, is_concrete

__all__ = ["COVARIANCE_TAGS", "DiagonalCovariance", "dense_covariance", "diagonal_covariance"]

COVARIANCE_TAGS = frozenset({lx.symmetric_tag, lx.positive_semidefinite_tag})


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
        v = np.asarray(variances)
        bad = ~(v > 0) | ~np.isfinite(v)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"diagonal_covariance got variances[{i}] = {float(v[i])}, "
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
