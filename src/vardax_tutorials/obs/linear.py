"""A linear observation operator given by a matrix or a lineax operator."""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import as_float_array, check_finite, check_shape, to_array
from .base import AbstractObservationOperator, apply_mask

__all__ = ["LinearObs"]


class LinearObs(AbstractObservationOperator):
    """$H(x) = Hx$ for a fixed linear map $H: \\mathbb{R}^n \\to \\mathbb{R}^m$.

    Arguments:
        H: an `(m, n)` matrix, or any `lx.AbstractLinearOperator` (structured
            operators such as `lx.DiagonalLinearOperator` keep their cheap
            matvec).
    """

    operator: lx.AbstractLinearOperator
    linear: ClassVar[bool] = True

    def __init__(self, H: Real[ArrayLike, "m n"] | lx.AbstractLinearOperator):
        if isinstance(H, lx.AbstractLinearOperator):
            self.operator = H
            return
        H = as_float_array(H, "LinearObs", "H")
        if H.ndim != 2:
            raise ValueError(f"LinearObs got H of shape {H.shape}, expected an (m, n) matrix.")
        self.operator = lx.MatrixLinearOperator(check_finite("LinearObs", "H", H))

    @property
    def shape(self) -> tuple[int, int]:
        """`(m, n)`: observation size by state size."""
        return (self.operator.out_size(), self.operator.in_size())

    def __call__(self, state: Float[Array, " n"], mask: Any = None) -> Float[Array, " m"]:
        state = to_array(state)
        check_shape("LinearObs", "state", state, (self.operator.in_size(),),
                    "one entry per column of H")
        return apply_mask(self.operator.mv(state), mask)

    def linearize(self, state: Float[Array, " n"], mask: Any = None) -> lx.AbstractLinearOperator:
        state = to_array(state)
        check_shape("LinearObs", "state", state, (self.operator.in_size(),),
                    "one entry per column of H")
        if mask is None:
            return self.operator
        m = apply_mask(jnp.ones(self.operator.out_size(), state.dtype), mask)
        return lx.DiagonalLinearOperator(m) @ self.operator


