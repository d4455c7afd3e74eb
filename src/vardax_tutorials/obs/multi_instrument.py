"""Several instruments observing one state, fused at the likelihood level.

Each instrument $i$ has its own operator $H_i$ and error covariance $R_i$.
Because their errors are independent, the joint likelihood is the product of
the per-instrument likelihoods: $J_o = \\sum_i \\tfrac12\\lVert y_i - H_i(x)\\rVert^2_{R_i^{-1}}$.
No regridding is needed: each instrument keeps its own footprint and size.
`MultiInstrumentFusion` returns a dict of observations (one entry per
instrument); `.stacked()` presents the same set as one `ObservationOperator`
with concatenated output and the block-diagonal $R$ of `.obs_cov()`.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import lineax as lx
from jaxtyping import Array, Float

from .._checks import check_covariance, check_obs_operator, to_array
from ..covariance import DiagonalCovariance, dense_covariance
from .base import AbstractObservationOperator, apply_mask, is_linear

__all__ = ["InstrumentRegistry", "InstrumentSpec", "MultiInstrumentFusion", "StackedObs"]


class InstrumentSpec(eqx.Module):
    """One instrument: a name, its observation operator and its error covariance.

    Arguments:
        name: a unique label (e.g. `"tropomi"`).
        obs_op: its `ObservationOperator` $H_i$.
        obs_cov: its error covariance $R_i$ (PSD-tagged lineax operator).
    """

    name: str = eqx.field(static=True)
    obs_op: Any
    obs_cov: lx.AbstractLinearOperator

    def __check_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"InstrumentSpec got name={self.name!r}, expected a non-empty string.")
        check_obs_operator(f"InstrumentSpec({self.name!r})", self.obs_op)
        check_covariance(f"InstrumentSpec({self.name!r})", "obs_cov", self.obs_cov)


class InstrumentRegistry(eqx.Module):
    """An ordered collection of `InstrumentSpec`s with unique names.

    `registry.register(spec)` returns a new registry (modules are immutable);
    `registry["name"]` looks an instrument up.
    """

    specs: tuple[InstrumentSpec, ...] = ()

    def __check_init__(self):
        names = [s.name for s in self.specs]
        for s in self.specs:
            if not isinstance(s, InstrumentSpec):
                raise TypeError(f"InstrumentRegistry got {type(s).__name__}, expected InstrumentSpec.")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"InstrumentRegistry got the instrument name {dup[0]!r} twice; names must be unique.")

    def register(self, spec: InstrumentSpec) -> "InstrumentRegistry":
        return InstrumentRegistry(self.specs + (spec,))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    def __getitem__(self, name: str) -> InstrumentSpec:
        for s in self.specs:
            if s.name == name:
                return s
        raise KeyError(f"no instrument named {name!r}; registered: {self.names}")

    def __len__(self) -> int:
        return len(self.specs)


class MultiInstrumentFusion(AbstractObservationOperator):
    """All instruments of a registry as one observation operator with dict output.

    `__call__(state, mask=None)` returns `{name: H_i(x)}`; `mask` is a dict of
    per-instrument masks (missing names mean fully observed). `linearize`
    returns a lineax operator from the state to that dict.
    """

    registry: InstrumentRegistry

    def __init__(self, registry: InstrumentRegistry | list[InstrumentSpec] | tuple[InstrumentSpec, ...]):
        if not isinstance(registry, InstrumentRegistry):
            registry = InstrumentRegistry(tuple(registry))
        if len(registry) == 0:
            raise ValueError("MultiInstrumentFusion got no instruments; register at least one.")
        self.registry = registry

    @property
    def linear(self) -> bool:  # type: ignore[override]
        return all(is_linear(s.obs_op) for s in self.registry.specs)

    def __call__(self, state: Float[Array, " n"], mask: dict[str, Any] | None = None) -> dict[str, Float[Array, " m_i"]]:
        mask = {} if mask is None else mask
        unknown = set(mask) - set(self.registry.names)
        if unknown:
            raise ValueError(f"MultiInstrumentFusion got a mask for unknown instrument(s) {sorted(unknown)}.")
        return {s.name: s.obs_op(state, mask.get(s.name)) for s in self.registry.specs}

    def linearize(self, state: Float[Array, " n"]) -> lx.AbstractLinearOperator:
        state = to_array(state)
        jacs = {s.name: s.obs_op.linearize(state) for s in self.registry.specs}
        return lx.FunctionLinearOperator(
            lambda v: {k: J.mv(v) for k, J in jacs.items()}, jax.ShapeDtypeStruct(state.shape, state.dtype)
        )

    def obs_covs(self) -> dict[str, lx.AbstractLinearOperator]:
        return {s.name: s.obs_cov for s in self.registry.specs}

    def stacked(self) -> "StackedObs":
        """The same instruments as one operator with concatenated output."""
        return StackedObs(self)

    def obs_cov(self) -> lx.AbstractLinearOperator:
        """The block-diagonal $R = \\mathrm{blockdiag}(R_1, \\dots, R_k)$ of the stacked output."""
        covs = [s.obs_cov for s in self.registry.specs]
        if all(lx.is_diagonal(c) for c in covs):
            return DiagonalCovariance(jnp.concatenate([lx.diagonal(c) for c in covs]))
        return dense_covariance(jsl.block_diag(*[c.as_matrix() for c in covs]), check=False)

    def stack(self, values: dict[str, Float[Array, " m_i"]]) -> Float[Array, " m"]:
        """Concatenate per-instrument arrays in registry order."""
        missing = set(self.registry.names) - set(values)
        if missing:
            raise ValueError(f"MultiInstrumentFusion.stack is missing instrument(s) {sorted(missing)}.")
        return jnp.concatenate([to_array(values[n]) for n in self.registry.names])

    def split(self, stacked: Float[Array, " m"]) -> dict[str, Float[Array, " m_i"]]:
        """Inverse of `stack`."""
        sizes = [s.obs_cov.in_size() for s in self.registry.specs]
        if stacked.shape != (sum(sizes),):
            raise ValueError(
                f"MultiInstrumentFusion.split got shape {stacked.shape}, expected ({sum(sizes)},)."
            )
        parts = jnp.split(stacked, list(jnp.cumsum(jnp.array(sizes))[:-1]))
        return dict(zip(self.registry.names, parts))


class StackedObs(AbstractObservationOperator):
    """A `MultiInstrumentFusion` seen as one operator $x \\mapsto [H_1(x); \\dots; H_k(x)]$."""

    fusion: MultiInstrumentFusion

    @property
    def linear(self) -> bool:  # type: ignore[override]
        return self.fusion.linear

    def __call__(self, state: Float[Array, " n"], mask: Any = None) -> Float[Array, " m"]:
        return apply_mask(self.fusion.stack(self.fusion(state)), mask)

    def linearize(self, state: Float[Array, " n"], mask: Any = None) -> lx.AbstractLinearOperator:
        state = to_array(state)
        J = self.fusion.linearize(state)
        stack = self.fusion.stack
        op = lx.FunctionLinearOperator(lambda v: stack(J.mv(v)), jax.ShapeDtypeStruct(state.shape, state.dtype))
        if mask is None:
            return op
        m = apply_mask(jnp.ones(op.out_size(), state.dtype), mask)
        return lx.DiagonalLinearOperator(m) @ op
