"""Batches of masked observations and seeded twin experiments.

A **twin experiment** (an OSSE) runs the model from a known initial state to
make a truth, observes the truth through an observation operator with noise,
and hides part of it. Methods are then judged against the truth they never see.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray, Real

from ._checks import (
    Index,
    as_float_array,
    check_forward,
    check_obs_operator,
    check_state,
    describe_value,
    check_ndim,
    check_shape,
    check_values,
    first_index,
    index_at_least,
    not_finite,
    observation_mask,
    outside_unit_interval,
    positive_parameter,
    to_array,
)
from .covariance import DiagonalCovariance, diagonal_covariance
from .models.lorenz import Lorenz96TwoLevel
from .models.rollout import rollout
from .obs.masked import MaskedIdentity
from .protocols import ForwardModel, ObservationOperator

__all__ = ["Batch1D", "TwinProblem", "generate_problem", "two_level_twin"]


class Batch1D(eqx.Module):
    """A batch of 1-D fields over time, as learned and classical solvers consume them.

    Arguments:
        input: `(B, T, N)` observations, NaN (or anything) where not observed.
        mask: `(B, T, N)` booleans, True where observed.
        target: optional `(B, T, N)` truth, for training and scoring.
    """

    input: Float[Array, "B T N"]
    mask: Bool[Array, "B T N"]
    target: Float[Array, "B T N"] | None = None

    def __init__(
        self,
        input: Real[ArrayLike, "B T N"],
        mask: Any,
        target: Real[ArrayLike, "B T N"] | None = None,
    ):
        input = to_array(input)
        check_ndim("Batch1D", "input", input, 3, "of shape (B, T, N)")
        self.input = input
        self.mask = observation_mask("Batch1D", input, to_array(mask))
        if target is not None:
            target = to_array(target)
            check_shape("Batch1D", "target", target, input.shape, "the shape of input")
        self.target = target

    @property
    def shape(self) -> tuple[int, int, int]:
        """`(B, T, N)`."""
        return tuple(self.input.shape)

    def backgrounds(self, background: Real[ArrayLike, "*B_T n"] | None, n: int, who: str = "Batch1D") -> Float[Array, "B T n"]:
        """One background per `(b, t)` slice, in the dtype of `input`.

        `background` is `(n,)`, `(T, n)` or `(B, T, n)`; zeros (a climatological
        anomaly of mean 0) when `None`. `who` names the caller in errors.
        """
        nb, nt, _ = self.shape
        bg = jnp.zeros(n, self.input.dtype) if background is None else to_array(background)
        if bg.shape in ((n,), (nt, n)):
            bg = jnp.broadcast_to(bg, (nb, nt, n))
        check_shape(who, "background", bg, (nb, nt, n), "(n,), (T, n) or (B, T, n)")
        return bg.astype(self.input.dtype)


class TwinProblem(eqx.Module):
    """A seeded twin experiment: the truth, what was observed, and a first guess.

    Attributes:
        truth: `(T, N)` true states; row 0 is the initial state $x_0$.
        obs: `(T, M)` noisy observations $y_t = H(x_t) + \\epsilon_t$, NaN where missing.
        mask: `(T, M)` booleans, True where observed.
        background: `(N,)` first guess of $x_0$: truth plus Gaussian error.
        obs_std: standard deviation of the observation error.
        background_std: standard deviation of the background error.
        dt: model time between rows.
    """

    truth: Float[Array, "T N"]
    obs: Float[Array, "T M"]
    mask: Bool[Array, "T M"]
    background: Float[Array, " N"]
    obs_std: Float[Array, ""]
    background_std: Float[Array, ""]
    dt: Float[Array, ""]

    @property
    def times(self) -> Float[Array, " T"]:
        """Model time of each row."""
        return self.dt * jnp.arange(self.truth.shape[0])

    @property
    def obs_cov(self) -> DiagonalCovariance:
        """$R = \\sigma_o^2 I$, the covariance the observations were drawn with."""
        return diagonal_covariance(jnp.full(self.obs.shape[1], self.obs_std**2, self.obs.dtype))

    @property
    def prior_cov(self) -> DiagonalCovariance:
        """$B = \\sigma_b^2 I$, the covariance the background was drawn with."""
        n = self.background.shape[0]
        return diagonal_covariance(jnp.full(n, self.background_std**2, self.background.dtype))

    def as_batch(self) -> Batch1D:
        """This problem as a `Batch1D` with one member (needs observations on the grid)."""
        if self.obs.shape != self.truth.shape:
            raise ValueError(
                f"TwinProblem.as_batch needs obs of the truth's shape {self.truth.shape}, "
                f"got {self.obs.shape}; use an observation operator on the model grid."
            )
        return Batch1D(self.obs[None], self.mask[None], self.truth[None])


def generate_problem(
    model: ForwardModel,
    *,
    key: PRNGKeyArray,
    n_times: Index,
    obs_op: ObservationOperator | None = None,
    obs_std: float = 1.0,
    obs_fraction: float = 1.0,
    obs_every: Index = 1,
    mask: Bool[ArrayLike, "*T M"] | None = None,
    background_std: float = 1.0,
    spin_up: Index = 1000,
    x0: Real[ArrayLike, " N"] | None = None,
) -> TwinProblem:
    """Simulate a twin experiment with `model`, seeded by `key`.

    Arguments:
        model: the forward model that makes the truth.
        key: a JAX PRNG key; the same key gives the same problem.
        n_times: number of time rows $T$ (the truth makes $T-1$ steps from $x_0$).
        obs_op: observation operator; `MaskedIdentity()` by default.
        obs_std: observation-error standard deviation ($R=\\sigma_o^2I$).
        obs_fraction: probability that an entry is observed (drawn independently
            per entry and time); ignored when `mask` is given.
        obs_every: observe only rows $0, k, 2k, \\dots$.
        mask: a fixed `(M,)` or `(T, M)` boolean mask instead of a random one.
        background_std: background-error standard deviation ($B=\\sigma_b^2I$).
        spin_up: steps run from `x0` before row 0, to land on the attractor.
        x0: starting state before spin-up; a standard normal draw by default.

    Returns:
        A `TwinProblem`.
    """
    who = "generate_problem"
    check_forward(who, model)
    n_times = index_at_least(who, "n_times", n_times, 1)
    obs_every = index_at_least(who, "obs_every", obs_every, 1)
    spin_up = index_at_least(who, "spin_up", spin_up, 0)
    obs_std = positive_parameter(who, "obs_std")(obs_std)
    background_std = positive_parameter(who, "background_std")(background_std)
    fraction = as_float_array(obs_fraction, who, "obs_fraction")
    obs_fraction = check_values(
        fraction,
        outside_unit_interval(fraction),
        f"{who} got obs_fraction={describe_value(obs_fraction)}, expected a value in [0, 1].",
    )
    obs_op = MaskedIdentity() if obs_op is None else obs_op
    check_obs_operator(who, obs_op)

    sig = model.state_signature
    if x0 is not None:
        x0 = check_state(who, "x0", model, x0).astype(sig.dtype)
    obs_shape = (n_times,) + tuple(jax.eval_shape(obs_op, jax.ShapeDtypeStruct(sig.shape, sig.dtype)).shape)
    if mask is not None:
        mask = to_array(mask)
        expected = obs_shape[1:] if mask.ndim == 1 else obs_shape
        check_shape(who, "mask", mask, expected, "(M,) or (T, M), M the observation size")
    k_x0, k_mask, k_obs, k_bg = jr.split(key, 4)
    if x0 is None:
        x0 = jr.normal(k_x0, sig.shape, sig.dtype)
    if spin_up > 0:
        x0 = rollout(model, x0, spin_up)[-1]
    truth = x0[None] if n_times == 1 else jnp.concatenate([x0[None], rollout(model, x0, n_times - 1)])
    # Checked before obs and background are built from it, so that under jit the check reaches every output.
    truth = check_values(
        truth,
        not_finite(truth),
        f"{who}: the model blew up (a non-finite truth state) during the spin-up or the window; "
        "use a smaller model dt or a starting state x0 nearer the attractor",
        detail=first_index,
    )
    clean = jax.vmap(obs_op)(truth)
    if mask is None:
        full_mask = jr.uniform(k_mask, clean.shape) < obs_fraction
    else:
        full_mask = jnp.broadcast_to(mask.astype(bool), clean.shape)
    rows = (jnp.arange(n_times) % obs_every == 0)[:, None]
    full_mask = full_mask & rows
    noisy = clean + obs_std * jr.normal(k_obs, clean.shape, clean.dtype)
    obs = jnp.where(full_mask, noisy, jnp.nan)
    background = truth[0] + background_std * jr.normal(k_bg, sig.shape, sig.dtype)
    return TwinProblem(
        truth=truth,
        obs=obs,
        mask=full_mask,
        background=background,
        obs_std=obs_std,
        background_std=background_std,
        dt=jnp.asarray(model.dt),
    )


def two_level_twin(
    model: Lorenz96TwoLevel,
    *,
    key: Array,
    n_times: int,
    obs_std: float = 0.5,
    background_std: float = 1.0,
    spin_up: int = 2000,
) -> TwinProblem:
    """A twin experiment on the two-level Lorenz-96 model, observed in its slow variables only.

    The run starts from $X_k = 8 + \\mathcal{N}(0, 1)$, $Y_{j,k} = 0.1\\,\\mathcal{N}(0, 1)$
    (near the attractor, so that the fast ring does not blow up), is spun up for
    `spin_up` steps, and then observes the $K$ slow variables at every one of the
    `n_times` rows with error `obs_std`; no fast variable is observed. This is
    `generate_problem(model, x0=..., mask=slow, ...)` with that start.

    Arguments:
        model: the `Lorenz96TwoLevel` that makes the truth.
        key: a JAX PRNG key; the same key gives the same problem.
        n_times, obs_std, background_std, spin_up: as in `generate_problem`.

    Returns:
        A `TwinProblem`; `problem.mask[0]` is the slow-variable mask.
    """
    if not isinstance(model, Lorenz96TwoLevel):
        raise TypeError(f"two_level_twin got model of type {type(model).__name__}, expected a Lorenz96TwoLevel.")
    k_slow, k_fast, k_problem = jr.split(key, 3)
    dtype = model.state_signature.dtype
    x0 = jnp.concatenate(
        [8.0 + jr.normal(k_slow, (model.K,), dtype), 0.1 * jr.normal(k_fast, (model.K * model.J,), dtype)]
    )
    slow = jnp.arange(model.state_size) < model.K
    return generate_problem(model, key=k_problem, n_times=n_times, x0=x0, spin_up=spin_up, obs_std=obs_std,
                            mask=slow, background_std=background_std)
