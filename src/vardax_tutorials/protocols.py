"""The three interfaces every part of the library is written against.

A data-assimilation system has three moving parts: a forward model that moves a
state in time, an observation operator that maps a state to what an instrument
sees, and an analysis step that combines a forecast with observations. They are
`typing.Protocol`s rather than base classes so that a reader's own class (an
`eqx.Module`, a dataclass, anything) conforms by having the right methods, with
no inheritance. They are `runtime_checkable`, so `isinstance(obj, ForwardModel)`
checks that the methods and properties exist (not their signatures).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax
import lineax as lx
from jaxtyping import Array, Float

__all__ = ["AnalysisStep", "ForwardModel", "ObservationOperator"]


@runtime_checkable
class ForwardModel(Protocol):
    """A discrete-time dynamical model $x_{k+1} = M(x_k)$.

    Conforming classes provide:
    - `step(state, dt) -> state`: advance one step of length `dt`;
    - `dt`: the default step length (a property or a field);
    - `state_signature`: a `jax.ShapeDtypeStruct` describing one state.
    """

    @property
    def dt(self) -> float: ...

    @property
    def state_signature(self) -> jax.ShapeDtypeStruct: ...

    def step(self, state: Float[Array, " n"], dt: float) -> Float[Array, " n"]: ...


@runtime_checkable
class ObservationOperator(Protocol):
    """A map $H$ from a state to an observation vector.

    Conforming classes provide:
    - `__call__(state, mask=None) -> obs`: $H(x)$, with unobserved entries set to
      zero when a boolean `mask` of the observation's shape is given;
    - `linearize(state) -> lineax.AbstractLinearOperator`: the Jacobian $H'(x)$.
    """

    def __call__(
        self, state: Float[Array, " n"], mask: Any = None
    ) -> Float[Array, " m"]: ...

    def linearize(self, state: Float[Array, " n"]) -> lx.AbstractLinearOperator: ...


@runtime_checkable
class AnalysisStep(Protocol):
    """Combine a forecast with observations: $x_a = A(x_f, y; H, R)$.

    `__call__(forecast, obs, *, obs_op, obs_err_cov) -> analysis`. The step must
    use the `obs_op` and `obs_err_cov` it is handed, not ones fixed at
    construction, so that a cycling driver can change instruments between cycles.
    `obs` carries NaN where nothing was observed.

    The time contract, which a cycling driver relies on without knowing which
    method it holds: `obs` is one observation vector `(m,)` or a window `(T, m)`
    (row t observed t model steps after row 0); the forecast is valid at the
    time of the single vector or of row 0, and the returned analysis is valid
    at the time of the last row (for one vector, the same time).
    """

    def __call__(
        self,
        forecast: Float[Array, " n"],
        obs: Float[Array, " m"],
        *,
        obs_op: ObservationOperator,
        obs_err_cov: lx.AbstractLinearOperator,
    ) -> Float[Array, " n"]: ...
