"""Operations that use a covariance's structure instead of a generic solve.

- `sqrt(B)`: a factor $L$ with $B = LL^\\top$: elementwise for a diagonal,
  Cholesky for a dense matrix, factor by factor for a Kronecker product.
- `whiten(L, v)`: $L^{-1}v$ (elementwise, a triangular solve, or through the
  Kronecker factors). With it, $\\tfrac12\\lVert L^{-1}(x - x_b)\\rVert^2 =
  \\tfrac12 (x-x_b)^\\top B^{-1}(x-x_b)$ costs no iterative solve.
- `solve(B, v)`: $B^{-1}v$; `logdet(B)`: $\\log\\det B$.

Each is a `functools.singledispatch` function: register your own operator type
to give it a fast path; the fallback materialises the matrix.
"""

from __future__ import annotations

import functools as ft

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import lineax as lx
import numpy as np
from jaxtyping import Array, Bool, Float

from .._checks import check_values, is_concrete
from .kronecker import Kronecker

__all__ = ["Whitener", "logdet", "not_whitenable_message", "solve", "sqrt", "whiten"]


def _matrix_sqrt(matrix):
    L = jnp.linalg.cholesky(matrix)
    if is_concrete(L) and not np.all(np.isfinite(np.asarray(L))):
        raise ValueError(
            "sqrt: the Cholesky factorisation failed, the covariance is not positive "
            "definite (singular or indefinite); add a small multiple of the identity."
        )
    return lx.MatrixLinearOperator(L, lx.lower_triangular_tag)


@ft.singledispatch
def sqrt(op: lx.AbstractLinearOperator) -> lx.AbstractLinearOperator:
    """A square-root factor $L$ of a covariance, $B = LL^\\top$ (lower triangular where dense)."""
    if not isinstance(op, lx.AbstractLinearOperator):
        raise TypeError(f"sqrt got {type(op).__name__}, expected a lineax operator.")
    return _matrix_sqrt(op.as_matrix())


@sqrt.register(lx.DiagonalLinearOperator)
def _(op):
    return lx.DiagonalLinearOperator(jnp.sqrt(lx.diagonal(op)))


@sqrt.register(lx.IdentityLinearOperator)
def _(op):
    return op


@sqrt.register(Kronecker)
def _(op):
    left, right = sqrt(op.left), sqrt(op.right)
    tags = frozenset({lx.lower_triangular_tag}) if (
        lx.is_lower_triangular(left) and lx.is_lower_triangular(right)
    ) else frozenset()
    return Kronecker(left, right, tags)


@ft.singledispatch
def whiten(L: lx.AbstractLinearOperator, v: Float[Array, " n"]) -> Float[Array, " n"]:
    """$L^{-1}v$ for a square-root factor $L$ returned by `sqrt`."""
    if lx.is_diagonal(L):
        return v / lx.diagonal(L)
    if lx.is_lower_triangular(L) or lx.is_upper_triangular(L):
        return jsl.solve_triangular(L.as_matrix(), v, lower=lx.is_lower_triangular(L))
    return lx.linear_solve(L, v, lx.AutoLinearSolver(well_posed=True)).value


@whiten.register(lx.IdentityLinearOperator)
def _(L, v):
    return v


@whiten.register(lx.MatrixLinearOperator)
def _(L, v):
    if lx.is_lower_triangular(L) or lx.is_upper_triangular(L):
        return jsl.solve_triangular(L.matrix, v, lower=lx.is_lower_triangular(L))
    return jnp.linalg.solve(L.matrix, v)


def _through_factors(apply_left, apply_right, op: Kronecker, v):
    """vec(f(A) X g(C)^T) by applying the factor maps to the columns and rows of X."""
    na, nc = op.factor_sizes
    X = jnp.reshape(v, (na, nc))
    Y = jax.vmap(apply_left, in_axes=1, out_axes=1)(X)
    return jax.vmap(apply_right)(Y).reshape(-1)


@whiten.register(Kronecker)
def _(L, v):
    return _through_factors(ft.partial(whiten, L.left), ft.partial(whiten, L.right), L, v)


@ft.singledispatch
def solve(op: lx.AbstractLinearOperator, v: Float[Array, " n"]) -> Float[Array, " n"]:
    """$B^{-1}v$ for a covariance $B$, through its structure."""
    if lx.is_diagonal(op):
        return v / lx.diagonal(op)
    return jsl.cho_solve((jnp.linalg.cholesky(op.as_matrix()), True), v)


@solve.register(lx.IdentityLinearOperator)
def _(op, v):
    return v


@solve.register(Kronecker)
def _(op, v):
    return _through_factors(ft.partial(solve, op.left), ft.partial(solve, op.right), op, v)


@ft.singledispatch
def logdet(op: lx.AbstractLinearOperator) -> Float[Array, ""]:
    """$\\log\\det B$ for a covariance $B$, through its structure."""
    if lx.is_diagonal(op):
        return jnp.sum(jnp.log(lx.diagonal(op)))
    L = jnp.linalg.cholesky(op.as_matrix())
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(L)))


@logdet.register(lx.IdentityLinearOperator)
def _(op):
    return jnp.zeros(())


@logdet.register(Kronecker)
def _(op):
    na, nc = op.factor_sizes
    return nc * logdet(op.left) + na * logdet(op.right)


class Whitener(eqx.Module):
    """$v \\mapsto L^{-1}v$ with the factor $L$ of a covariance computed once.

    `Whitener.of(B)` factorises $B$ (the only $O(n^3)$ step for a dense $B$);
    each call is then elementwise, triangular or factor-by-factor.
    """

    factor: lx.AbstractLinearOperator

    @classmethod
    def of(cls, cov: lx.AbstractLinearOperator) -> "Whitener":
        """Factorise `cov` (no check: see `whitens` and `Whitener.checked`)."""
        return cls(sqrt(cov))

    def __call__(self, v: Float[Array, " n"]) -> Float[Array, " n"]:
        return whiten(self.factor, v)

    @classmethod
    def checked(cls, cov: lx.AbstractLinearOperator, who: str, name: str) -> "Whitener":
        """Factorise `cov` and refuse it (eagerly, or with `eqx.error_if` when traced) if `whitens` fails."""
        try:
            w = cls.of(cov)
        except ValueError as e:  # `sqrt` refuses a concrete failed Cholesky itself
            raise ValueError(not_whitenable_message(who, name)) from e
        return check_values(w, ~w.whitens(cov), not_whitenable_message(who, name))

    def whitens(self, cov: lx.AbstractLinearOperator) -> Bool[Array, ""]:
        """Whether this factor whitens `cov` to working precision.

        False when the factor is not finite (an indefinite or NaN covariance) or
        when a pivot $L_{ii}^2$ is below machine epsilon times the variance
        $B_{ii}$ (a singular or numerically singular covariance: whitening would
        divide by rounding noise). Scale-free: a diagonal covariance passes
        whenever its variances are finite and positive.
        """
        d = lx.diagonal(self.factor)
        var = lx.diagonal(cov)
        eps = jnp.finfo(d.dtype).eps
        return jnp.all(jnp.isfinite(d)) & jnp.all(jnp.isfinite(var)) & jnp.all(d**2 > eps * jnp.abs(var)) & jnp.all(var > 0)


def not_whitenable_message(who: str, name: str) -> str:
    """The error every method gives for a covariance it cannot whiten."""
    symbol = {"prior_cov": "B", "obs_cov": "R", "model_err_cov": "Q"}.get(name, name)
    where = " on the observed entries" if name == "obs_cov" else ""
    return (
        f"{who}: {name} cannot be whitened{where} (its square root is singular or not finite); "
        f"{symbol} must be positive definite."
    )
