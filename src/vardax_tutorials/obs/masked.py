"""The identity observation operator with a mask: $H(x) = m \\odot x$."""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Float

from .base import AbstractObservationOperator, apply_mask
from .._checks import to_array

__all__ = ["MaskedIdentity"]


class MaskedIdentity(AbstractObservationOperator):
    """Observe the state itself, entry by entry: $H(x) = m \\odot x$.

    The most common operator of gridded DA: observations live on the model
    grid and `mask` says which grid points were seen. The Jacobian is the
    identity (as a diagonal of ones), or $\\mathrm{diag}(m)$ when a mask is
    given to `linearize`.
    """

    linear: ClassVar[bool] = True

    def __call__(self, state: Float[Array, " n"], mask: Any = None) -> Float[Array, " n"]:
        return apply_mask(to_array(state), mask)

    def linearize(self, state: Float[Array, " n"], mask: Any = None) -> lx.AbstractLinearOperator:
        state = to_array(state)
        # A diagonal of ones rather than lx.IdentityLinearOperator: lineax 0.1 gives
        # the identity's diagonal in the default float dtype, which turns a float32
        # solve into float64 under x64 (and then fails).
        return lx.DiagonalLinearOperator(apply_mask(jnp.ones_like(state), mask))
