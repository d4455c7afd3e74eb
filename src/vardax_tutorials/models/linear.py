"""A linear forward model $x_{t+1} = M x_t$: the setting in which 4DVar is exact.

With a linear model, a linear observation operator and Gaussian errors, strong
4DVar equals the Kalman smoother over the window and weak-constraint 4DVar the
Kalman/RTS smoother with model error; Parts 7 and 8 check both against it.
"""

from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import as_float_array, check_finite, check_ndim, positive_parameter
from .base import AbstractModel

__all__ = ["LinearModel"]


def _square_matrix(matrix: Any) -> Float[Array, "n n"]:
    matrix = as_float_array(matrix, "LinearModel", "matrix")
    check_ndim("LinearModel", "matrix", matrix, 2, "(the one-step map M)")
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"LinearModel got matrix of shape {matrix.shape}, expected a square (n, n) array.")
    return check_finite("LinearModel", "matrix", matrix)


class LinearModel(AbstractModel):
    """The discrete linear model $x_{t+1} = M x_t$.

    Arguments:
        matrix: the one-step map $M$, a square `(n, n)` array (finite).
        dt: the length of one step in time units (1 by default); it labels
            time and does not enter the map.

    A step is one application of $M$: `step(state, dt)` and `advance`
    ignore `dt` (it is neither used nor checked). The tangent-linear model is $M$ itself and the
    adjoint model $M^\\top$.
    """

    matrix: Float[Array, "n n"] = eqx.field(converter=_square_matrix)
    uses_dt: ClassVar[bool] = False
    dt: Float[Array, ""] = eqx.field(default=1.0, converter=positive_parameter("LinearModel", "dt"))

    @property
    def state_size(self) -> int:
        return self.matrix.shape[0]

    def advance(self, state: Real[ArrayLike, " n"], dt: Any) -> Float[Array, " n"]:
        del dt
        return self.matrix @ state
