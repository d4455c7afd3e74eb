"""Matérn covariances between grid points, on lines, periodic lines and 2-D grids.

The Matérn family (Matérn 1986; Rasmussen and Williams 2006, §4.2) sets the
correlation between two points at distance $r$ by a smoothness $\\nu$ and a
length scale $\\ell$. Half-integer $\\nu$ have closed forms; $\\nu=1/2$ is the
exponential (rough) and $\\nu\\to\\infty$ the Gaussian (very smooth) kernel.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import as_float_array, check_finite, positive_parameter, to_array
from .dense import COVARIANCE_TAGS

__all__ = ["MATERN_NUS", "MaternCovariance", "grid_points", "matern_covariance", "matern_kernel"]

MATERN_NUS = (0.5, 1.5, 2.5)


def matern_kernel(r: Real[ArrayLike, "..."], length_scale: Real[ArrayLike, ""], nu: float) -> Float[Array, "..."]:
    """The Matérn correlation $k_\\nu(r/\\ell)$ for $\\nu \\in \\{1/2, 3/2, 5/2\\}$.

    $k_{1/2}(s)=e^{-s}$, $k_{3/2}(s)=(1+\\sqrt3 s)e^{-\\sqrt3 s}$,
    $k_{5/2}(s)=(1+\\sqrt5 s+\\tfrac53 s^2)e^{-\\sqrt5 s}$.
    """
    s = to_array(r) / length_scale
    if nu == 0.5:
        return jnp.exp(-s)
    if nu == 1.5:
        return (1 + math.sqrt(3) * s) * jnp.exp(-math.sqrt(3) * s)
    if nu == 2.5:
        return (1 + math.sqrt(5) * s + 5.0 / 3.0 * s**2) * jnp.exp(-math.sqrt(5) * s)
    raise ValueError(f"matern_kernel got nu={nu!r}, expected one of {MATERN_NUS}.")


def grid_points(*axes: Real[ArrayLike, " _k"]) -> Float[Array, "n d"]:
    """Points of a tensor grid, in the row-major order of a field of shape `(len(a0), len(a1), ...)`.

    `grid_points(y, x)` gives the `(ny * nx, 2)` coordinates matching
    `field.ravel()` for a `field` of shape `(ny, nx)`.
    """
    mesh = jnp.meshgrid(*[to_array(a) for a in axes], indexing="ij")
    return jnp.stack([m.ravel() for m in mesh], axis=-1)


class MaternCovariance(lx.MatrixLinearOperator):
    """Matérn covariance $B_{ij} = \\sigma^2 k_\\nu(\\lVert p_i - p_j\\rVert/\\ell)$, stored densely.

    Arguments:
        coords: `(n,)` positions on a line, or `(n, d)` points (e.g. from
            `grid_points(y, x)` for a 2-D grid).
        variance: $\\sigma^2 > 0$.
        length_scale: $\\ell > 0$.
        nu: smoothness, one of 0.5, 1.5, 2.5 (it selects the formula, so it is static).
        period: the domain length of a periodic 1-D grid, or `None`. Distances
            are then chord lengths, which keeps $B$ positive semidefinite for
            every $\\nu$ (the arc length does not).

    `variance`, `length_scale` and `period` are stored as arrays: $B$ can be
    differentiated with respect to them (`jax.grad` through an analysis), and a
    jitted analysis called with a new value does not recompile. They are checked
    eagerly, or with `eqx.error_if` when traced.
    """

    variance: Float[Array, ""]
    length_scale: Float[Array, ""]
    nu: float = eqx.field(static=True)
    period: Float[Array, ""] | None

    def __init__(
        self,
        coords: Real[ArrayLike, "n *d"],
        *,
        variance: Real[ArrayLike, ""] = 1.0,
        length_scale: Real[ArrayLike, ""] = 1.0,
        nu: float = 1.5,
        period: Real[ArrayLike, ""] | None = None,
    ):
        who = "MaternCovariance"
        if nu not in MATERN_NUS:
            raise ValueError(f"{who} got nu={nu!r}, expected one of {MATERN_NUS}.")
        variance = positive_parameter(who, "variance")(variance)
        length_scale = positive_parameter(who, "length_scale")(length_scale)
        if period is not None:
            period = positive_parameter(who, "period")(period)
        coords = as_float_array(coords, who, "coords")
        if coords.ndim == 1:
            coords = coords[:, None]
        if coords.ndim != 2:
            raise ValueError(f"{who} got coords of shape {coords.shape}, expected (n,) or (n, d).")
        coords = check_finite(who, "coords", coords)
        diff = coords[:, None, :] - coords[None, :, :]
        if period is not None:
            if coords.shape[1] != 1:
                raise ValueError(f"{who} supports period= only for 1-D coords, got shape {coords.shape}.")
            diff = (period / jnp.pi) * jnp.sin(jnp.pi * diff / period)
        r = jnp.sqrt(jnp.sum(diff**2, axis=-1))
        self.matrix = variance * matern_kernel(r, length_scale, nu)
        self.tags = COVARIANCE_TAGS
        self.variance = variance
        self.length_scale = length_scale
        self.nu = nu
        self.period = period


def matern_covariance(
    coords: Real[ArrayLike, "n *d"],
    *,
    variance: Real[ArrayLike, ""] = 1.0,
    length_scale: Real[ArrayLike, ""] = 1.0,
    nu: float = 1.5,
    period: Real[ArrayLike, ""] | None = None,
) -> MaternCovariance:
    """A `MaternCovariance` (same arguments); kept as the functional spelling."""
    return MaternCovariance(coords, variance=variance, length_scale=length_scale, nu=nu, period=period)
