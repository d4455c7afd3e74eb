"""Adjoint machinery: gradients of scalar costs for optimistix, and solver adjoints.

`KStepAdjoint(k)` and `OneStepAdjoint()` are optimistix adjoints (pass them as
`adjoint=` to `optx.minimise`, `optx.root_find`, `optx.fixed_point`, ...). They
run the solver to convergence without recording anything, then differentiate
only `k` further iterations started from the solution (one-step
differentiation, Bolte, Pauwels and Vaiter 2023). The derivative of the
solution is then that of the last `k` iterations: exact for Newton's method at
a root, a geometric approximation (error like $\rho^k$) for a contraction with
rate $\rho$, and cheap in memory whatever the number of iterations.

`adjoint_gradient(fn)` gives a scalar cost a JVP rule built from its gradient.
Optimistix minimisers obtain gradients with `jax.linearize` (forward mode) and
then transpose; a cost that runs a diffrax solve under
`RecursiveCheckpointAdjoint` or `BacksolveAdjoint` (custom VJPs) cannot be
forward-differentiated. With the rule $\\dot J = \\nabla J \\cdot \\dot x$ and
$\\nabla J$ computed by reverse mode (the adjoint model), any such cost can be
minimised; with `forward_mode=True`, $\\nabla J$ is built column by column with
`jax.jacfwd` instead (n tangent-linear runs, for `diffrax.ForwardMode`).
"""

from __future__ import annotations

from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, Float

__all__ = ["KStepAdjoint", "OneStepAdjoint", "adjoint_gradient"]


def adjoint_gradient(fn: Callable[[Any], Float[Array, ""]], *, forward_mode: bool = False) -> Callable[[Any], Float[Array, ""]]:
    """`fn` with a custom JVP $\\dot J = \\nabla J(x)\\cdot\\dot x$, $\\nabla J$ by reverse (or forward) mode.

    `x` may be an array or a pytree of arrays. Only `x` is differentiated: the
    rule does not propagate derivatives with respect to values `fn` closes over.
    """

    @jax.custom_jvp
    def wrapped(x):
        return fn(x)

    @wrapped.defjvp
    def _jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        if forward_mode:
            value, grad = fn(x), jax.jacfwd(fn)(x)
        else:
            value, grad = jax.value_and_grad(fn)(x)
        pairs = zip(jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(dx))
        return value, sum(jnp.vdot(g, d) for g, d in pairs)

    return wrapped


def _stop(tree: Any) -> Any:
    return jax.tree_util.tree_map(lambda x: jax.lax.stop_gradient(x) if eqx.is_array(x) else x, tree)


def _lax_while_loop(cond_fun, body_fun, init_val, *, max_steps):
    """A `lax.while_loop` honouring `max_steps` (the loop optimistix expects)."""

    def cond(state):
        i, carry = state
        ok = cond_fun(carry)
        return ok if max_steps is None else ok & (i < max_steps)

    def body(state):
        i, carry = state
        return i + 1, body_fun(carry)

    return jax.lax.while_loop(cond, body, (0, init_val))[1]


def _k_step_apply(k, primal_fn, inputs):
    """Solve with every input frozen, then differentiate `k` iterations restarted at the solution."""
    fn, solver, y0, args, options, max_steps, f_struct, aux_struct, solve_tags = inputs
    frozen = (fn, solver, _stop(y0), _stop(args), options, max_steps, f_struct, aux_struct, solve_tags)
    y_star, info = _stop(primal_fn(frozen + (_lax_while_loop,)))
    f_shape, aux_shape = jax.eval_shape(fn, y_star, args)
    state = solver.init(fn, y_star, args, options, f_shape, aux_shape, solve_tags)
    y = y_star
    for _ in range(k):
        y, state, _ = solver.step(fn, y, args, options, state, solve_tags)
    # the converged value, carrying the derivative of the k differentiated iterations
    y_out = jax.tree_util.tree_map(lambda a, b: a + (b - jax.lax.stop_gradient(b)), y_star, y)
    return y_out, info


class KStepAdjoint(optx.AbstractAdjoint):
    """Differentiate only the last `k` solver iterations, restarted at the solution.

    Arguments:
        k: number of differentiated iterations (at least 1).

    The primal solve runs with every input under `stop_gradient`, in a plain
    `lax.while_loop` (no memory for a backward pass). Then `k` iterations of the
    same solver start again from the solution, differentiably; the returned
    value is the converged solution, with the derivative of those `k`
    iterations. Memory is that of `k` iterations, whatever the solve took.
    Reliable for solvers whose iteration is a smooth map: Newton root finding
    (one step is exact at a root) and fixed-point iteration. Optimistix
    minimisers evaluate a candidate and accept it on the following step, so
    the first restarted step only re-accepts the solution: with
    `optx.GradientDescent`, `k` restarted steps contain `k - 1` real moves (and
    `OneStepAdjoint` gives a zero derivative). Through a line search (BFGS,
    NonlinearCG) the restarted iterations can stall at the solution and the
    derivative is then wrong.
    """

    k: int = eqx.field(default=1, static=True)

    def __check_init__(self):
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"KStepAdjoint got k={self.k!r}, expected an integer >= 1.")

    def apply(self, primal_fn, rewrite_fn, inputs, tags):
        del rewrite_fn, tags
        return _k_step_apply(self.k, primal_fn, inputs)


class OneStepAdjoint(optx.AbstractAdjoint):
    """One-step differentiation (Bolte, Pauwels and Vaiter 2023): `KStepAdjoint` with `k = 1`.

    For Newton's method at a root, the derivative of one step from the solution
    is exactly the implicit-function derivative.
    """

    def apply(self, primal_fn, rewrite_fn, inputs, tags):
        del rewrite_fn, tags
        return _k_step_apply(1, primal_fn, inputs)
