"""The contract every assimilation method follows, and the solution it returns.

Every method (optimal interpolation, 3DVar, the 4DVar family, and the learned
methods of later parts) is a final subclass of `AbstractAnalysisMethod`:

- fields `obs_op` ($H$), `prior_cov` ($B$), `obs_cov` ($R$) and `throw`;
- `solve(background, obs, mask=None) -> AbstractSolution` with the analysis,
  whether it converged, the iterations taken and the two cost terms;
- `analyse(background, obs, mask=None)`, the analysed state alone;
- `as_analysis_step()`, the method as an `AnalysisStep` that takes $H$ and
  $R$ with each call (`MethodAnalysisStep`).

The time contract, which a cycling driver relies on without knowing which
method it holds: the background (forecast) is valid at the time of `obs` row 0
(or of the single observation vector of a one-time method), and the analysis
returned is valid at the time of the last row.

`throw=True` (the default, as in optimistix): `solve` and `analyse` raise when
the minimiser did not converge or the cost is not finite; with `throw=False`
they return the solution with `converged=False`. A covariance that cannot be
whitened is a bad input and is refused whatever `throw` says. Each error is a
Python exception with a clear message when the method is called eagerly
(`ValueError` for a bad covariance, `FloatingPointError` for a non-finite
cost, `RuntimeError` for non-convergence); inside `jax.jit`/`jax.vmap` the
same message comes from `eqx.branched_error_if` when the program runs.
"""


import abc
import dataclasses
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Real

from .._checks import check_covariance, check_obs_operator, is_concrete, to_array
from ..covariance.structure import not_whitenable_message
from ..protocols import ObservationOperator

__all__ = [
    "AbstractAnalysisMethod",
    "AbstractSolution",
    "AnalysisSolution",
    "MethodAnalysisStep",
    "WindowSolution",
]


class AbstractSolution(eqx.Module):
    """What `solve` returns: the analysis and how it was obtained.

    Attributes:
        analysis: the analysed state, valid at the time of the last row of `obs`.
        converged: whether the solver met its tolerances and the cost is finite.
        num_steps: iterations taken (minimiser steps, CG steps, outer loops).
        prior_cost: $J_b$ at the analysis.
        obs_cost: $J_o$ at the analysis.
        cost: the total cost $J$.
    """

    analysis: eqx.AbstractVar[Float[Array, " n"]]
    converged: eqx.AbstractVar[Bool[Array, ""]]
    num_steps: eqx.AbstractVar[Int[Array, ""]]
    prior_cost: eqx.AbstractVar[Float[Array, ""]]
    obs_cost: eqx.AbstractVar[Float[Array, ""]]

    @property
    @abc.abstractmethod
    def cost(self) -> Float[Array, ""]:
        """The total cost at the analysis."""


class AnalysisSolution(AbstractSolution):
    """The solution of a one-time method (optimal interpolation, 3DVar): $J = J_b + J_o$."""

    analysis: Float[Array, " n"]
    converged: Bool[Array, ""]
    num_steps: Int[Array, ""]
    prior_cost: Float[Array, ""]
    obs_cost: Float[Array, ""]

    @property
    def cost(self) -> Float[Array, ""]:
        return self.prior_cost + self.obs_cost


class WindowSolution(AbstractSolution):
    """The solution of a window method (the 4DVar family).

    Attributes:
        initial_state: the analysed $x_0$, at the time of `obs` row 0.
        trajectory: `(T, n)` analysed states, row t at the time of `obs[t]`.
        analysis: `trajectory[..., -1, :]`, the state at the last row's time.
        model_error_cost: $J_q$ (weak constraint), else 0.
        model_error: `(T-1, n)` analysed $\\eta_t$ (weak constraint), else `None`.
        stats: method-specific diagnostics (e.g. incremental 4DVar's
            `outer_costs`, `outer_grad_norms`, `inner_iterations`).
    """

    initial_state: Float[Array, " n"]
    trajectory: Float[Array, "T n"]
    converged: Bool[Array, ""]
    num_steps: Int[Array, ""]
    prior_cost: Float[Array, ""]
    obs_cost: Float[Array, ""]
    model_error_cost: Float[Array, ""]
    model_error: Float[Array, "T_1 n"] | None = None
    stats: dict[str, Any] = eqx.field(default_factory=dict)

    @property
    def analysis(self) -> Float[Array, " n"]:
        return self.trajectory[..., -1, :]

    @property
    def cost(self) -> Float[Array, ""]:
        return self.prior_cost + self.model_error_cost + self.obs_cost


# Failure codes of `_solve` methods (0 = none), their exceptions and messages.
PRIOR_COV, OBS_COV, MODEL_ERR_COV, NOT_SOLVED, NOT_FINITE, NOT_CONVERGED, BREAKDOWN = range(1, 8)
_BAD_INPUT = (PRIOR_COV, OBS_COV, MODEL_ERR_COV)  # raised whatever `throw` says
_ERRORS = {
    PRIOR_COV: ValueError,
    OBS_COV: ValueError,
    MODEL_ERR_COV: ValueError,
    NOT_SOLVED: RuntimeError,
    NOT_FINITE: FloatingPointError,
    NOT_CONVERGED: RuntimeError,
    BREAKDOWN: FloatingPointError,
}


def _message(who: str, code: int) -> str:
    messages = {
        PRIOR_COV: not_whitenable_message(who, "prior_cov"),
        OBS_COV: not_whitenable_message(who, "obs_cov"),
        MODEL_ERR_COV: not_whitenable_message(who, "model_err_cov"),
        NOT_SOLVED: f"{who}: the linear solve for the analysis failed (the innovation covariance "
        "H B H^T + R is singular or the solver did not converge); check B and R, or pass throw=False.",
        NOT_FINITE: f"{who}: the cost is not finite (the trajectory or the observation "
        "operator diverged); use a shorter window or a background closer to the truth, or pass "
        "throw=False to get the solution with converged=False.",
        NOT_CONVERGED: f"{who}: the solver did not converge within its iteration budget; raise "
        "max_steps (or n_outer), start closer (init=...), use cvt=True for a correlated B, or pass "
        "throw=False to get the solution with converged=False.",
        BREAKDOWN: f"{who}: the inner conjugate-gradient solve broke down: the gradient or the increment "
        "is not finite (the linearised window is not finite, e.g. H is not differentiable there, or the "
        "inner Hessian is singular or indefinite to working precision).",
    }
    return messages[code]


def failure_code(*conditions: tuple[Any, int]) -> Int[Array, ""]:
    """The code of the first `(failed, code)` pair whose `failed` is True, else 0."""
    code = jnp.array(0)
    for failed, c in reversed(conditions):
        code = jnp.where(failed, c, code)
    return code


def finish(method: "AbstractAnalysisMethod", solution: AbstractSolution, code: Any, detail: str | None = None) -> AbstractSolution:
    """Raise the error of failure `code` (subject to `method.throw`), or return `solution`.

    Eagerly the error is a Python exception; when `code` is traced it is
    `eqx.branched_error_if`, with the same message. `detail` (e.g. the outer
    iteration, known only eagerly) is appended to eager messages.
    """
    who = type(method).__name__
    if not method.throw:
        code = jnp.where(jnp.isin(code, jnp.array(_BAD_INPUT)), code, 0)
    if is_concrete(code):
        code_np = np.asarray(code)
        if code_np.any():
            first = int(code_np[code_np > 0].flat[0])
            extra = "" if detail is None else f" ({detail})"
            raise _ERRORS[first](_message(who, first) + extra)
        return solution
    messages = [_message(who, c) for c in sorted(_ERRORS)]
    return eqx.branched_error_if(solution, code > 0, jnp.maximum(code - 1, 0), messages)


class AbstractAnalysisMethod(eqx.Module):
    """An assimilation method: a background and observations in, an analysis out.

    Subclasses are final `eqx.Module`s with the fields `obs_op`, `prior_cov`,
    `obs_cov` and `throw`, the class variable `windowed` (whether `obs` is a
    `(T, m)` window), and a `solve` method. They inherit the checks of those
    fields, `state_size`, `obs_size`, `analyse` and `as_analysis_step`.
    """

    obs_op: eqx.AbstractVar[ObservationOperator]
    prior_cov: eqx.AbstractVar[lx.AbstractLinearOperator]
    obs_cov: eqx.AbstractVar[lx.AbstractLinearOperator]
    throw: eqx.AbstractVar[bool]
    windowed: eqx.AbstractClassVar[bool]

    def __check_init__(self):
        who = type(self).__name__
        check_obs_operator(who, self.obs_op)
        check_covariance(who, "prior_cov", self.prior_cov)
        check_covariance(who, "obs_cov", self.obs_cov)
        if not isinstance(self.throw, bool):
            raise TypeError(f"{who} got throw={self.throw!r}, expected True or False.")

    @property
    def state_size(self) -> int:
        """$n$, the size of $B$."""
        return self.prior_cov.in_size()

    @property
    def obs_size(self) -> int:
        """$m$, the size of $R$ (one row of `obs`)."""
        return self.obs_cov.in_size()

    @abc.abstractmethod
    def solve(self, background: Real[ArrayLike, " n"], obs: Real[ArrayLike, "*T m"], mask: Any = None) -> AbstractSolution:
        """Analyse `obs` (`(m,)`, or `(T, m)` for a window method; NaN where missing) given the background."""

    def analyse(self, background: Real[ArrayLike, " n"], obs: Real[ArrayLike, "*T m"], mask: Any = None) -> Float[Array, " n"]:
        """The analysed state, valid at the time of the last row of `obs` (see `solve`)."""
        return self.solve(background, obs, mask).analysis

    def as_analysis_step(self) -> "MethodAnalysisStep":
        """This method as an `AnalysisStep` that keeps every setting but $H$ and $R$."""
        return MethodAnalysisStep(self)


class MethodAnalysisStep(eqx.Module):
    """Any `AbstractAnalysisMethod` as an `AnalysisStep`: $H$ and $R$ come with each call.

    Each call rebuilds the method with the `obs_op` and `obs_err_cov` it is
    handed (so its constructor checks them) and keeps every other setting. The
    time contract: `forecast` is valid at the time of `obs` (of its row 0 for a
    window method, where a single `(m,)` row is a window of one); the returned
    analysis is valid at the time of the last row.
    """

    method: AbstractAnalysisMethod

    def __check_init__(self):
        if not isinstance(self.method, AbstractAnalysisMethod):
            raise TypeError(
                f"MethodAnalysisStep got {type(self.method).__name__}, expected an assimilation method "
                "(a vdx.AbstractAnalysisMethod such as vdx.OptimalInterpolation or vdx.ThreeDVar)."
            )

    def __call__(
        self,
        forecast: Real[ArrayLike, " n"],
        obs: Real[ArrayLike, "*T m"],
        *,
        obs_op: ObservationOperator,
        obs_err_cov: lx.AbstractLinearOperator,
        mask: Any = None,
    ) -> Float[Array, " n"]:
        obs = to_array(obs)
        if self.method.windowed and obs.ndim == 1:
            obs = obs[None]
            mask = None if mask is None else to_array(mask)[None]
        method = dataclasses.replace(self.method, obs_op=obs_op, obs_cov=obs_err_cov)
        return method.analyse(forecast, obs, mask)

