"""Solver adjoints that differentiate only the last iterations of a solve.

`KStepAdjoint(k)` and `OneStepAdjoint()` are optimistix adjoints (pass them as
`adjoint=` to `optx.minimise`, `optx.root_find`, `optx.fixed_point`, ..., or as
`minimiser_adjoint=` to the variational methods). They run the solver to
convergence without recording anything, then differentiate only `k` further
iterations started from the solution (one-step differentiation, Bolte,
Pauwels and Vaiter 2023). The derivative of the solution is then that of the
last `k` iterations: exact for Newton's method at a root, a geometric
approximation (error like $\rho^k$) for a contraction with rate $\rho$, and
cheap in memory whatever the number of iterations.

They call optimistix's solver interface directly (`solver.init`/`solver.step`
and the layout of the `inputs` that `AbstractAdjoint.apply` receives), which is
not a stable public API: tested with optimistix 0.1.0, and the project pins
`optimistix>=0.1.0,<0.2`. An unexpected layout is refused with a clear error.
"""


from typing import Any

import equinox as eqx
import jax
import optimistix as optx

from ._checks import Index, index_at_least

__all__ = ["AbstractRestartAdjoint", "KStepAdjoint", "OneStepAdjoint"]

_N_INPUTS = 9  # fn, solver, y0, args, options, max_steps, f_struct, aux_struct, tags (optimistix 0.1)


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
    if len(inputs) != _N_INPUTS:
        raise RuntimeError(
            f"KStepAdjoint expects the optimistix 0.1 solver interface ({_N_INPUTS} inputs), got "
            f"{len(inputs)} from optimistix {optx.__version__}; install optimistix>=0.1.0,<0.2."
        )
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


def _stalls_at_solution(solver: Any) -> bool:
    """Whether restarted iterations of `solver` may stay at the solution (a line search or trust region).

    A restarted step is accepted or rejected by comparing values of the cost
    that differ by rounding at the solution, so the derivative of the `k`
    steps is noise (zero, or a multiple of the identity). Solvers without a
    search (Newton, fixed-point iteration) or with a fixed step length
    (`optx.LearningRate`: gradient descent, Gauss-Newton) iterate a smooth map.
    """
    search = getattr(solver, "search", None)
    return search is not None and not isinstance(search, optx.LearningRate)


class AbstractRestartAdjoint(optx.AbstractAdjoint):
    """Differentiate `k` solver iterations restarted at the solution (see the module docstring).

    Refuses solvers with a line search or trust region (BFGS, NonlinearCG,
    Levenberg-Marquardt, Dogleg, and the variational methods' default BFGS),
    whose restarted iterations stall at the solution and give a wrong
    derivative.
    """

    k: eqx.AbstractVar[int]

    def check_solver(self, who: str, solver: Any) -> None:
        """Raise `TypeError` for a solver this adjoint cannot differentiate (`None`: the default BFGS)."""
        if solver is None or _stalls_at_solution(solver):
            name = "the default BFGS" if solver is None else type(solver).__name__
            prefix = "" if who == type(self).__name__ else f"{who}: "
            raise TypeError(
                f"{prefix}{type(self).__name__} cannot differentiate {name}: its line search or trust "
                "region stalls when restarted at the solution, and the derivative is wrong. Use "
                "optx.ImplicitAdjoint(), or a solver with a fixed step: optx.GaussNewton, "
                "optx.GradientDescent, optx.Newton, optx.FixedPointIteration."
            )

    def apply(self, primal_fn, rewrite_fn, inputs, tags):
        del rewrite_fn, tags
        self.check_solver(type(self).__name__, inputs[1])
        return _k_step_apply(self.k, primal_fn, inputs)


class KStepAdjoint(AbstractRestartAdjoint):
    """Differentiate only the last `k` solver iterations, restarted at the solution.

    Arguments:
        k: number of differentiated iterations (at least 1).

    The primal solve runs with every input under `stop_gradient`, in a plain
    `lax.while_loop` (no memory for a backward pass). Then `k` iterations of the
    same solver start again from the solution, differentiably; the returned
    value is the converged solution, with the derivative of those `k`
    iterations. Memory is that of `k` iterations, whatever the solve took.
    Exact for Newton root finding at a root, geometric for fixed-point
    iteration. Optimistix minimisers evaluate a candidate and accept it on the
    following step, so the first restarted step only re-accepts the solution:
    with `optx.GradientDescent` or `optx.GaussNewton`, `k` restarted steps
    contain `k - 1` real moves (and `OneStepAdjoint` gives a zero derivative).
    Line-search and trust-region solvers are refused (`AbstractRestartAdjoint`).
    """

    k: Index = eqx.field(default=1, static=True, converter=lambda k: index_at_least("KStepAdjoint", "k", k, 1))


class OneStepAdjoint(AbstractRestartAdjoint):
    """One-step differentiation (Bolte, Pauwels and Vaiter 2023): `KStepAdjoint` with `k = 1`.

    For Newton's method at a root, the derivative of one step from the solution
    is exactly the implicit-function derivative.
    """

    @property
    def k(self) -> int:
        return 1
