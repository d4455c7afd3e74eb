"""A dynamical prior: the forward model as the projection $\\varphi$ of a prior cost.

Learned solvers (Part 10) regularise a state $x$ by how far it is from its
image under a prior operator, $J_p(x) = \\tfrac{\\lambda}{2}\\lVert x - \\varphi(x)\\rVert^2$.
With $\\varphi = M^n$ the prior says "the state is consistent with the
dynamics": for a trajectory window $x_{0:T-1}$,
$\\varphi(x)_t = M^n(x_{t-1})$ (and $\\varphi(x)_0 = x_0$).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import Index, check_forward, finite_parameter, index_at_least, to_array
from ..models.base import stepper
from ..protocols import ForwardModel

__all__ = ["DynamicalPrior"]


class DynamicalPrior(eqx.Module):
    """$\\varphi(x) = M^n(x)$ as a prior term.

    Arguments:
        forward: the `ForwardModel` $M$.
        n_steps: applications $n$ of the forward between two rows of a window.
        weight: $\\lambda$ in the cost (an array: differentiable).
        stop_gradient: the "gradient flow" of the cost. False (default) gives the
            true gradient $(I - \\varphi'(x))^\\top(x - \\varphi(x))$, which runs
            the adjoint of $M$; True treats $\\varphi(x)$ as a fixed target, so the
            gradient is $x - \\varphi(x)$ (cheaper, the projection-style flow of
            learned solvers).
    """

    forward: ForwardModel
    n_steps: Index = eqx.field(default=1, static=True, converter=lambda k: index_at_least("DynamicalPrior", "n_steps", k, 1))
    weight: Float[Array, ""] = eqx.field(default=1.0, converter=finite_parameter("DynamicalPrior", "weight"))
    stop_gradient: bool = eqx.field(default=False, static=True)

    def __check_init__(self):
        check_forward("DynamicalPrior", self.forward)

    def propagate(self, state: Real[ArrayLike, " n"]) -> Float[Array, " n"]:
        """$M^n(x)$ for one state."""
        return _propagate(self, to_array(state))

    def __call__(self, x: Real[ArrayLike, "*T n"]) -> Float[Array, "*T n"]:
        """$\\varphi(x)$ for one state `(n,)` or a window `(T, n)`."""
        x = to_array(x)
        n = self.forward.state_signature.shape[0]
        if x.ndim not in (1, 2) or x.shape[-1] != n:
            raise ValueError(f"DynamicalPrior got x of shape {x.shape}, expected ({n},) or (T, {n}).")
        return _apply(self, x)

    def cost(self, x: Real[ArrayLike, "*T n"]) -> Float[Array, ""]:
        """$J_p(x) = \\tfrac{\\lambda}{2}\\lVert x - \\varphi(x)\\rVert^2$."""
        x = to_array(x)
        target = self(x)
        if self.stop_gradient:
            target = jax.lax.stop_gradient(target)
        return 0.5 * self.weight * jnp.sum((x - target) ** 2)


@eqx.filter_jit
def _propagate(prior: DynamicalPrior, state: jax.Array) -> jax.Array:
    step = stepper(prior.forward)
    return jax.lax.scan(lambda x, _: (step(x, prior.forward.dt), None), state, None, length=prior.n_steps)[0]


@eqx.filter_jit
def _apply(prior: DynamicalPrior, x: jax.Array) -> jax.Array:
    if x.ndim == 1:
        return _propagate(prior, x)
    return jnp.concatenate([x[:1], jax.vmap(lambda s: _propagate(prior, s))(x[:-1])])
