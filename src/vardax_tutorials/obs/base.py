"""What every observation operator of the library shares.

An observation operator maps a state to an observation vector. Masks are
symmetric: where `mask` is False the operator returns 0, and the analysis forms
the residual as `where(mask, y - H(x), 0)`, so a missing observation neither
pulls the analysis towards 0 nor contributes a NaN.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Float
from .._checks import to_array

__all__ = ["AbstractObservationOperator", "apply_mask", "is_linear"]


def apply_mask(y: Float[Array, " m"], mask: Any) -> Float[Array, " m"]:
    """Zero the entries of `y` where `mask` is False (`mask=None` keeps all)."""
    if mask is None:
        return y
    mask = to_array(mask)
    if mask.shape != y.shape:
        raise ValueError(
            f"observation operator got mask of shape {mask.shape}, expected "
            f"{y.shape} (one entry per observation)."
        )
    return jnp.where(mask.astype(bool), y, jnp.zeros((), y.dtype))


def is_linear(obs_op: Any) -> bool:
    """Whether `obs_op` declares itself linear (class attribute `linear = True`).

    Methods that are exact only for a linear $H$ (optimal interpolation) use
    this to refuse a nonlinear operator instead of silently linearising it.
    """
    return bool(getattr(obs_op, "linear", False))


class AbstractObservationOperator(eqx.Module):
    """Base of the library's observation operators ($y = H(x)$).

    Subclasses implement `__call__(state, mask=None)` and `linearize(state)`,
    and set `linear = True` (a class attribute or a property) when $H$ is
    affine, so that exact linear methods (optimal interpolation) accept it.
    """

    @abc.abstractmethod
    def __call__(self, state: Float[Array, " n"], mask: Any = None) -> Float[Array, " m"]:
        ...

    @abc.abstractmethod
    def linearize(self, state: Float[Array, " n"]) -> lx.AbstractLinearOperator:
        ...


