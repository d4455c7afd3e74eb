"""Kronecker products of operators, for separable space x time covariances.

A separable covariance $B = B_t \\otimes B_s$ needs only its two factors:
$(n_t^2 + n_s^2)$ numbers instead of $(n_t n_s)^2$. With the state stored as a
row-major `(n_t, n_s)` array $X$, $(A \\otimes C)\\,\\mathrm{vec}(X) =
\\mathrm{vec}(A X C^\\top)$, so a matvec is two small matrix products, and
solves, square roots and log-determinants go through the factors too
(`vdx.covariance.solve`, `sqrt`, `logdet`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from .._checks import check_covariance
from .dense import COVARIANCE_TAGS

__all__ = ["Kronecker", "KroneckerCovariance"]


class Kronecker(lx.AbstractLinearOperator):
    """The Kronecker product $A \\otimes C$ of two square lineax operators.

    Arguments:
        left: $A$, of size $n_a$ (the slow index of the flattened vector).
        right: $C$, of size $n_c$ (the fast index).
        tags: lineax tags of the product.

    Acts on vectors of length $n_a n_c$, seen as row-major `(n_a, n_c)` arrays.
    """

    left: lx.AbstractLinearOperator
    right: lx.AbstractLinearOperator
    tags: frozenset = eqx.field(default=frozenset(), static=True)

    def __check_init__(self):
        for name, op in (("left", self.left), ("right", self.right)):
            if not isinstance(op, lx.AbstractLinearOperator):
                raise TypeError(f"Kronecker got {name} of type {type(op).__name__}, expected a lineax operator.")
            if op.in_size() != op.out_size():
                raise ValueError(
                    f"Kronecker got a non-square {name} ({op.out_size()} x {op.in_size()}), expected square factors."
                )

    @property
    def factor_sizes(self) -> tuple[int, int]:
        return (self.left.in_size(), self.right.in_size())

    def mv(self, vector):
        na, nc = self.factor_sizes
        X = jnp.reshape(vector, (na, nc))
        Y = jax.vmap(self.left.mv, in_axes=1, out_axes=1)(X)
        return jax.vmap(self.right.mv)(Y).reshape(-1)

    def as_matrix(self):
        return jnp.kron(self.left.as_matrix(), self.right.as_matrix())

    def transpose(self):
        return Kronecker(self.left.T, self.right.T, lx.transpose_tags(self.tags))

    def in_structure(self):
        na, nc = self.factor_sizes
        dtype = jnp.result_type(self.left.in_structure().dtype, self.right.in_structure().dtype)
        return jax.ShapeDtypeStruct((na * nc,), dtype)

    def out_structure(self):
        return self.in_structure()


class KroneckerCovariance(Kronecker):
    """A separable covariance $B = B_1 \\otimes B_2$ from two PSD-tagged covariances.

    Arguments:
        left: $B_1$ (e.g. the time covariance, the slow index).
        right: $B_2$ (e.g. the space covariance, the fast index).
    """

    def __init__(self, left: lx.AbstractLinearOperator, right: lx.AbstractLinearOperator):
        check_covariance("KroneckerCovariance", "left", left)
        check_covariance("KroneckerCovariance", "right", right)
        self.left = left
        self.right = right
        self.tags = COVARIANCE_TAGS


@lx.linearise.register(Kronecker)
def _(op):
    return Kronecker(lx.linearise(op.left), lx.linearise(op.right), op.tags)


@lx.materialise.register(Kronecker)
def _(op):
    return Kronecker(lx.materialise(op.left), lx.materialise(op.right), op.tags)


@lx.diagonal.register(Kronecker)
def _(op):
    return jnp.kron(lx.diagonal(op.left), lx.diagonal(op.right))


@lx.tridiagonal.register(Kronecker)
def _(op):
    m = op.as_matrix()
    return jnp.diagonal(m, -1), jnp.diagonal(m), jnp.diagonal(m, 1)


@lx.conj.register(Kronecker)
def _(op):
    return Kronecker(lx.conj(op.left), lx.conj(op.right), op.tags)


for _check, _tag in (
    (lx.is_symmetric, lx.symmetric_tag),
    (lx.is_diagonal, lx.diagonal_tag),
    (lx.has_unit_diagonal, lx.unit_diagonal_tag),
    (lx.is_lower_triangular, lx.lower_triangular_tag),
    (lx.is_upper_triangular, lx.upper_triangular_tag),
    (lx.is_positive_semidefinite, lx.positive_semidefinite_tag),
):

    @_check.register(Kronecker)
    def _(op, check=_check, tag=_tag):
        return tag in op.tags or (check(op.left) and check(op.right))


@lx.is_negative_semidefinite.register(Kronecker)
def _(op):
    return lx.negative_semidefinite_tag in op.tags


@lx.is_tridiagonal.register(Kronecker)
def _(op):
    return lx.tridiagonal_tag in op.tags or (lx.is_diagonal(op.left) and lx.is_diagonal(op.right))
