"""The classical RK4 scheme as a diffrax solver, and a model's diffrax integrator.

The library's Lorenz models step with classical fourth-order Runge-Kutta
(`rk4_step`). Diffrax ships adaptive Runge-Kutta pairs but not this scheme, so
it is defined here from its Butcher tableau. Solving a model's `vector_field`
with `ClassicalRK4()` and a constant step `model.dt` reproduces `rollout`
to rounding (the stages are summed in another order), which is what lets 4DVar
switch between a plain `lax.scan` and `diffrax.diffeqsolve` under any diffrax
adjoint without changing the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import diffrax as dfx
import numpy as np

__all__ = ["ClassicalRK4", "diffrax_integrator"]

_rk4_tableau = dfx.ButcherTableau(
    a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
    b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
    b_error=np.zeros(4),
    c=np.array([0.5, 0.5, 1.0]),
)


class ClassicalRK4(dfx.AbstractERK):
    """Classical fourth-order Runge-Kutta (no embedded error estimate: constant steps only)."""

    tableau: ClassVar[dfx.ButcherTableau] = _rk4_tableau
    interpolation_cls: ClassVar[Callable[..., dfx.ThirdOrderHermitePolynomialInterpolation]] = (
        dfx.ThirdOrderHermitePolynomialInterpolation.from_k
    )

    def order(self, terms: Any) -> int:
        del terms
        return 4


def diffrax_integrator(model: Any) -> tuple[dfx.AbstractSolver, int]:
    """`(solver, substeps)`: `diffrax.diffeqsolve` with `solver` and a constant step `model.dt / substeps` reproduces `model.step`.

    A model can define `diffrax_integrator()` itself; RK4 models get
    `(ClassicalRK4(), 1)`.
    """
    custom = getattr(model, "diffrax_integrator", None)
    if callable(custom):
        return custom()
    from .base import AbstractRK4Model

    if isinstance(model, AbstractRK4Model):
        return ClassicalRK4(), 1
    raise TypeError(
        f"{type(model).__name__} has no diffrax integrator: give it vector_field(t, y, args) "
        "and diffrax_integrator() -> (solver, substeps), or use forward_adjoint=None (a "
        "lax.scan of model.step)."
    )
