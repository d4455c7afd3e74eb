"""Checks of mathematical correctness that readers can run on their own code.

The **dot-product test** checks that a linear operator $A$ and its transpose
agree: for random $u$, $v$, $\\langle Au, v\\rangle = \\langle u, A^T v\\rangle$
up to rounding. A wrong hand-written adjoint fails it by $O(1)$.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
from jaxtyping import PRNGKeyArray

__all__ = ["dot_product_test"]


def _random_like(key, structure):
    leaves, treedef = jax.tree_util.tree_flatten(structure)
    keys = jr.split(key, len(leaves))
    return jax.tree_util.tree_unflatten(
        treedef, [jr.normal(k, s.shape, s.dtype) for k, s in zip(keys, leaves)]
    )


def _inner(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def _norm(a):
    return jnp.sqrt(_inner(a, a))


def dot_product_test(op: lx.AbstractLinearOperator, *, key: PRNGKeyArray | None = None) -> float:
    """Relative adjoint mismatch $|\\langle Au,v\\rangle - \\langle u,A^Tv\\rangle| / (\\|Au\\|\\|v\\|)$.

    Arguments:
        op: any lineax operator (its `.T` is the adjoint under test).
        key: PRNG key for the random $u$, $v$ (a fixed key by default).

    Returns:
        The mismatch as a float: around machine epsilon for a correct adjoint
        (~1e-16 in float64, ~1e-7 in float32).
    """
    if not isinstance(op, lx.AbstractLinearOperator):
        raise TypeError(
            f"dot_product_test got {type(op).__name__}, expected a lineax operator "
            "(for an observation operator, pass obs_op.linearize(x))."
        )
    key = jr.key(0) if key is None else key
    ku, kv = jr.split(key)
    u = _random_like(ku, op.in_structure())
    v = _random_like(kv, op.out_structure())
    Au = op.mv(u)
    Atv = op.T.mv(v)
    lhs, rhs = _inner(Au, v), _inner(u, Atv)
    scale = _norm(Au) * _norm(v)
    scale = jnp.where(scale > 0, scale, 1.0)
    return float(jnp.abs(lhs - rhs) / scale)
