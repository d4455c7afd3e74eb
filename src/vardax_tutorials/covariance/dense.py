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
from jaxtyping import ArrayLike, Float, Real

from .._checks import as_float_array, check_ndim, check_values, inspect_with, is_concrete, not_finite, not_finite_positive

__all__ = ["COVARIANCE_TAGS", "DiagonalCovariance", "dense_covariance", "diagonal_covariance"]

COVARIANCE_TAGS = frozenset({lx.symmetric_tag, lx.positive_semidefinite_tag})


def diagonal_covariance(variances: Real[ArrayLike, " n"]) -> "DiagonalCovariance":
    """Diagonal covariance $\\mathrm{diag}(\\sigma_1^2, \\dots, \\sigma_n^2)$.

    Arguments:
        variances: the $n$ variances, all finite and strictly positive (checked
            eagerly, or with `eqx.error_if` when traced).

    Returns:
        A `DiagonalCovariance`: a `lx.DiagonalLinearOperator` that lineax knows
        to be symmetric and positive semidefinite.
    """
    variances = as_float_array(variances, "diagonal_covariance", "variances")
    check_ndim("diagonal_covariance", "variances", variances, 1, "of shape (n,)")
    variances = check_values(
        variances,
        not_finite_positive(variances),
        "diagonal_covariance got a variance that is not finite and > 0; expected every variance "
        "to be finite and > 0",
        detail=lambda bad: f"variances[{int(np.argmax(bad))}] = {float(np.asarray(variances)[int(np.argmax(bad))])}",
    )
    return DiagonalCovariance(variances)


def dense_covariance(
    matrix: Real[ArrayLike, "n n"], *, check: bool = True, rtol: float = 1e-6
) -> lx.MatrixLinearOperator:
    """Dense covariance from a symmetric positive-semidefinite matrix.

    Arguments:
        matrix: an `(n, n)` symmetric positive-semidefinite matrix.
        check: verify that it is finite and symmetric, and (eagerly only) the
            sign of its eigenvalues. When the matrix is traced (under `jax.jit`)
            finiteness and symmetry are checked with `eqx.error_if`;
            definiteness is then checked where the methods factorise it.
        rtol: tolerance of those checks, relative to the largest entry.

    Returns:
        A `lx.MatrixLinearOperator` tagged symmetric and positive semidefinite.
    """
    who = "dense_covariance"
    matrix = as_float_array(matrix, who, "matrix")
    check_ndim(who, "matrix", matrix, 2, "of shape (n, n)")
    n, m = matrix.shape
    if n != m:
        raise ValueError(f"{who} got matrix of shape {(n, m)}, expected a square (n, n) matrix.")
    if not check:
        return lx.MatrixLinearOperator(matrix, COVARIANCE_TAGS)
    xp = inspect_with(matrix)
    a = xp.asarray(matrix)
    matrix = check_values(matrix, not_finite(a), f"{who} got a matrix with non-finite entries.")
    scale = xp.maximum(xp.max(xp.abs(a)), jnp.finfo(a.dtype).tiny)   # jnp.finfo knows bfloat16
    asym = xp.max(xp.abs(a - a.T))
    matrix = check_values(
        matrix,
        asym > rtol * scale,
        f"{who} got a non-symmetric matrix: max |M - M^T| > {rtol:g} x max |M|, expected a symmetric matrix.",
    )
    if is_concrete(matrix):
        a = np.asarray(matrix, dtype=np.float64)
        lam_min = float(np.linalg.eigvalsh(0.5 * (a + a.T))[0])
        if lam_min < -rtol * float(np.max(np.abs(a))):
            raise ValueError(
                f"{who} got a matrix that is not positive semidefinite: "
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
