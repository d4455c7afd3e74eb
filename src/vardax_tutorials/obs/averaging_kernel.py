"""The averaging-kernel operator of satellite retrievals (Rodgers 2000).

A retrieval does not report the true profile $x$: it reports a smoothed mix of
the truth and the a-priori profile $x_{\\mathrm{ap}}$ the retrieval started from. With a
smoothing matrix $A$ and a sensitivity $h \\in [0, 1]$ per level,

    H(x) = A (h * x + (1 - h) * x_ap).

Writing $A_R = A\\,\\mathrm{diag}(h)$, $H(x) = A x_{\\mathrm{ap}} + A_R (x - x_{\\mathrm{ap}})$: the
retrieval's response to a departure from the a-priori is $A_R$, the role the
averaging kernel plays in Rodgers' $\\hat x = x_{\\mathrm{ap}} + A_R(x - x_{\\mathrm{ap}})$ (the two forms
coincide when $A x_{\\mathrm{ap}} = x_{\\mathrm{ap}}$, e.g. $A = I$).

$H$ is affine, so its Jacobian $A\\,\\mathrm{diag}(h)$ does not depend on $x$
and a BLUE with it is exact; `linearize` returns that product as structured
lineax operators rather than a dense matrix.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, ArrayLike, Float, Real

from .._checks import as_float_array, check_finite, check_shape, check_values, first_index, outside_unit_interval, to_array
from .base import AbstractObservationOperator, apply_mask

__all__ = ["AveragingKernel"]


class AveragingKernel(AbstractObservationOperator):
    """$H(x) = A(h \\odot x + (1-h) \\odot x_{\\mathrm{ap}})$.

    Arguments:
        A: `(m, n)` averaging (smoothing) matrix, or a lineax operator.
        prior_profile: `(n,)` the a-priori profile $x_{\\mathrm{ap}}$ of the retrieval
            (called $x_a$ by Rodgers; here $x_a$ is always the analysis).
        h: `(n,)` sensitivity of the retrieval to the true state, in [0, 1].
    """

    A: lx.AbstractLinearOperator
    prior_profile: Float[Array, " n"]
    h: Float[Array, " n"]
    linear: ClassVar[bool] = True  # affine: the BLUE and Gauss-Newton are exact

    def __init__(self, A: Any, prior_profile: Real[ArrayLike, " n"], h: Real[ArrayLike, " n"]):
        who = "AveragingKernel"
        if not isinstance(A, lx.AbstractLinearOperator):
            A = as_float_array(A, who, "A")
            if A.ndim != 2:
                raise ValueError(f"{who} got A of shape {A.shape}, expected an (m, n) matrix.")
            A = lx.MatrixLinearOperator(check_finite(who, "A", A))
        n = A.in_size()
        prior_profile, h = as_float_array(prior_profile, who, "prior_profile"), as_float_array(h, who, "h")
        check_shape(who, "prior_profile", prior_profile, (n,), "one entry per column of A")
        check_shape(who, "h", h, (n,), "one entry per column of A")
        self.A = A
        self.prior_profile = check_finite(who, "prior_profile", prior_profile)
        self.h = check_values(
            h.astype(prior_profile.dtype),
            outside_unit_interval(h),
            f"{who} got h outside [0, 1] (or not finite); expected a sensitivity in [0, 1] per level.",
            detail=first_index,
        )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.A.out_size(), self.A.in_size())

    def __call__(self, state: Float[Array, " n"], mask: Any = None) -> Float[Array, " m"]:
        state = to_array(state)
        check_shape("AveragingKernel", "state", state, (self.A.in_size(),), "one entry per column of A")
        return apply_mask(self.A.mv(self.h * state + (1.0 - self.h) * self.prior_profile), mask)

    def linearize(self, state: Float[Array, " n"], mask: Any = None) -> lx.AbstractLinearOperator:
        """$A\\,\\mathrm{diag}(h)$ (times $\\mathrm{diag}(m)$ on the left with a mask)."""
        state = to_array(state)
        check_shape("AveragingKernel", "state", state, (self.A.in_size(),), "one entry per column of A")
        J = self.A @ lx.DiagonalLinearOperator(self.h)
        if mask is None:
            return J
        m = apply_mask(jnp.ones(self.A.out_size(), self.h.dtype), mask)
        return lx.DiagonalLinearOperator(m) @ J
