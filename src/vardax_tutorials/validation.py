"""Checks of mathematical correctness that readers can run on their own code.

- The **dot-product test** checks that a linear operator $A$ and its transpose
  agree: for random $u$, $v$, $\\langle Au, v\\rangle = \\langle u, A^T v\\rangle$
  up to rounding. A wrong hand-written adjoint fails it by many orders of
  magnitude (with the normalisation below, typically by $\\sim 1/\\sqrt{n}$ or more).
- The **Jacobian test** compares an operator's `linearize(x)` with the
  directional derivative JAX computes by forward-mode autodiff (`jax.jvp`).
- The **Taylor test** checks a linearisation without autodiff: the remainder
  $\\lVert f(x+\\epsilon v) - f(x) - \\epsilon J v\\rVert$ must shrink like
  $\\epsilon^2$ (slope 2 on a log-log plot); a wrong $J$ gives slope 1.

Two measuring tools sit beside them: `count_compiles` (how many XLA programs
a block compiles, a count that does not depend on the machine) and
`best_time` (a wall-clock time, for showing, never for asserting).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import index_at_least, is_concrete, to_array

__all__ = ["best_time", "count_compiles", "dot_product_test", "jacobian_test", "taylor_test"]


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


def dot_product_test(
    op: lx.AbstractLinearOperator,
    transpose: Callable[[Any], Any] | None = None,
    *,
    key: PRNGKeyArray | None = None,
) -> float:
    """Relative adjoint mismatch $|\\langle Au,v\\rangle - \\langle u,A^Tv\\rangle| / (\\|Au\\|\\|v\\|)$.

    Arguments:
        op: any lineax operator $A$ (its `mv` is the forward map).
        transpose: the adjoint under test, $v \\mapsto A^T v$, written
            independently of `op` (by hand, or from a NumPy matrix). By default
            `op.T.mv`, which tests only a hand-written `transpose()` method: for
            a `MatrixLinearOperator` or a `JacobianLinearOperator`, `op.T` is
            derived from the same matrix or by autodiff and the test cannot fail.
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
    Atv = op.T.mv(v) if transpose is None else transpose(v)
    lhs, rhs = _inner(Au, v), _inner(u, Atv)
    scale = _norm(Au) * _norm(v)
    scale = jnp.where(scale > 0, scale, 1.0)
    return float(jnp.abs(lhs - rhs) / scale)


def _linearization(obs_op: Any, x, mask):
    if not hasattr(obs_op, "linearize"):
        raise TypeError(
            f"expected an observation operator with linearize(state), got {type(obs_op).__name__}."
        )
    J = obs_op.linearize(x) if mask is None else obs_op.linearize(x, mask=mask)
    if not isinstance(J, lx.AbstractLinearOperator):
        raise TypeError(f"{type(obs_op).__name__}.linearize returned {type(J).__name__}, expected a lineax operator.")
    return J


def jacobian_test(
    obs_op: Any, x: Float[Array, " n"], *, key: PRNGKeyArray | None = None, mask: Any = None
) -> float:
    """Relative mismatch $\\lVert J v - \\mathrm{jvp}(H, x, v)\\rVert / \\lVert \\mathrm{jvp}\\rVert$ for a random $v$.

    Arguments:
        obs_op: anything with `__call__(x, mask=None)` and `linearize(x)`.
        x: the point of linearisation.
        key: PRNG key for $v$ (fixed by default).
        mask: optional observation mask passed to both.
    """
    x = to_array(x)
    J = _linearization(obs_op, x, mask)
    v = jr.normal(jr.key(1) if key is None else key, x.shape, x.dtype)
    _, jvp = jax.jvp(lambda z: obs_op(z, mask), (x,), (v,))
    diff = jax.tree_util.tree_map(lambda a, b: a - b, J.mv(v), jvp)
    scale = _norm(jvp)
    return float(_norm(diff) / jnp.where(scale > 0, scale, 1.0))


def taylor_test(
    f: Callable[[Array], Any],
    x: Float[Array, " n"],
    J: lx.AbstractLinearOperator,
    *,
    key: PRNGKeyArray | None = None,
    epsilons: tuple[float, ...] = (1e-1, 5e-2, 2.5e-2, 1.25e-2, 6.25e-3),
) -> tuple[float, np.ndarray]:
    """Order of the Taylor remainder $r(\\epsilon)=\\lVert f(x+\\epsilon v)-f(x)-\\epsilon Jv\\rVert$.

    Returns:
        `(slope, remainders)`: the fitted slope of $\\log r$ against $\\log\\epsilon$
        (about 2 when $J$ is the Jacobian of $f$ at $x$, about 1 when it is not)
        and the remainders themselves. Use float64: in float32 rounding floors the
        remainder for small $\\epsilon$.
    """
    x = to_array(x)
    v = jr.normal(jr.key(2) if key is None else key, x.shape, x.dtype)
    fx, Jv = f(x), J.mv(v)
    rems = []
    for eps in epsilons:
        diff = jax.tree_util.tree_map(lambda a, b, c: a - b - eps * c, f(x + eps * v), fx, Jv)
        rems.append(float(_norm(diff)))
    rems = np.asarray(rems)
    slope = float(np.polyfit(np.log(epsilons), np.log(np.maximum(rems, 1e-300)), 1)[0])
    return slope, rems


def best_time(fn: Callable[..., Any], *args: Any, repeats: int = 5, warmup: bool = True) -> float:
    """The best wall-clock time in seconds of `fn(*args)` over `repeats` calls.

    With `warmup=True` one untimed call comes first, to compile a jitted `fn`;
    pass `warmup=False` when `fn` is compiled already (called before with
    arguments of the same shapes, or compiled ahead of time with
    `.lower(...).compile()`), so that a long run is not repeated for nothing.
    A timed call that compiles a program is left out of the minimum, and if
    every one does, `RuntimeError`. Each timed call waits for the result with
    `jax.block_until_ready`. The minimum, not the mean, is the number least
    disturbed by other work on the machine. Timings are for showing; to assert
    on cost, count something (`count_compiles`, iterations).
    """
    repeats = index_at_least("best_time", "repeats", repeats, 1)
    if not is_concrete(fn, args):     # fn too: a Module with traced fields
        raise TypeError(
            "best_time got a traced argument: it times calls from Python and cannot run inside "
            "jax.jit, jax.vmap or jax.grad; call it eagerly, on a jitted fn."
        )
    if warmup:
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        with count_compiles() as compiles:
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            elapsed = time.perf_counter() - start
        if compiles.count == 0:          # a call that compiled times the compiler, not fn
            times.append(elapsed)
    if not times:
        raise RuntimeError(
            f"best_time: every one of the {repeats} timed calls compiled a program, so none times fn alone; "
            "with warmup=False, fn must be compiled already for these arguments (or pass warmup=True)."
        )
    return min(times)


class count_compiles:
    """Count XLA compilations inside a `with` block (`jax.monitoring`'s backend-compile event).

    ```python
    with vdx.count_compiles() as compiles:
        analyse(x)
    assert compiles.count == 1
    ```

    Counts every program JAX compiles in the block, including the small ones
    behind eager `jnp` operations on new shapes; call those once before the
    block to leave only what the block itself compiles. A count, unlike a
    wall-clock time, does not depend on how busy the machine is.
    """

    _EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self) -> None:
        self.count = 0

    def _listener(self, event: str, duration: float, **kwargs: Any) -> None:
        del duration, kwargs
        if event == self._EVENT:
            self.count += 1

    def __enter__(self) -> "count_compiles":
        jax.monitoring.register_event_duration_secs_listener(self._listener)
        return self

    def __exit__(self, *exc: Any) -> None:
        jax.monitoring.unregister_event_duration_listener(self._listener)
