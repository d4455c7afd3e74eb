"""OptimalInterpolation against a dense NumPy BLUE, and its masking contract."""

import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import pytest

import vardax_tutorials as vdx

from .conftest import random_spd


def dense_blue(xb, y, H, B, R, observed):
    """BLUE on the observed rows only, in NumPy float64."""
    xb, y, H, B, R = (np.asarray(a, np.float64) for a in (xb, y, H, B, R))
    o = np.asarray(observed, bool)
    Ho, Roo = H[o], R[np.ix_(o, o)]
    K = B @ Ho.T @ np.linalg.inv(Ho @ B @ Ho.T + Roo)
    return xb + K @ (y[o] - Ho @ xb), (np.eye(len(xb)) - K @ Ho) @ B, K


def make_problem(getkey, n, m, observed_fraction):
    B = random_spd(getkey(), n, cond=20.0)
    R = random_spd(getkey(), m, cond=5.0)
    H = jr.normal(getkey(), (m, n))
    xb = jr.normal(getkey(), (n,))
    y = jr.normal(getkey(), (m,))
    mask = jr.uniform(getkey(), (m,)) < observed_fraction
    mask = mask.at[0].set(True)
    return xb, y, H, B, R, mask


@pytest.mark.parametrize("solver", [None, lx.Cholesky()], ids=["cg", "cholesky"])
@pytest.mark.parametrize("n,m", [(8, 5), (6, 11)])
@pytest.mark.parametrize("observed_fraction", [1.0, 0.6])
def test_oi_equals_dense_blue(getkey, solver, n, m, observed_fraction):
    xb, y, H, B, R, mask = make_problem(getkey, n, m, observed_fraction)
    y_nan = jnp.where(mask, y, jnp.nan)
    oi = vdx.OptimalInterpolation(
        vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R), solver=solver
    )
    xa = oi.analyse(xb, y_nan)
    expected, Pa, K = dense_blue(xb, y, H, B, R, mask)
    np.testing.assert_allclose(np.asarray(xa), expected, rtol=0, atol=1e-6)
    # the same analysis with an explicit mask and finite values where unobserved
    xa_masked = oi.analyse(xb, y, mask=mask)
    np.testing.assert_allclose(np.asarray(xa_masked), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(oi.analysis_covariance(mask=mask).as_matrix()), Pa, atol=1e-8)
    gain = np.asarray(oi.kalman_gain(mask=mask))
    np.testing.assert_allclose(gain[:, np.asarray(mask)], K, atol=1e-8)
    np.testing.assert_array_equal(gain[:, ~np.asarray(mask)], 0.0)


def test_masked_identity_diagonal_b_leaves_unobserved_untouched(getkey):
    n = 12
    xb, truth = jr.normal(getkey(), (n,)), jr.normal(getkey(), (n,))
    mask = jnp.arange(n) % 3 == 0
    y = jnp.where(mask, truth, jnp.nan)
    oi = vdx.OptimalInterpolation(
        vdx.MaskedIdentity(),
        vdx.diagonal_covariance(jnp.linspace(0.5, 2.0, n)),
        vdx.diagonal_covariance(jnp.full(n, 0.3)),
    )
    xa = oi.analyse(xb, y)
    np.testing.assert_array_equal(np.asarray(xa[~mask]), np.asarray(xb[~mask]))
    assert bool(jnp.all(jnp.abs(xa[mask] - xb[mask]) > 0))


def test_unobserved_move_only_through_prior_cross_covariance(getkey):
    """With a correlated B, x_u moves by B_uo B_oo^{-1} times the observed move."""
    n = 10
    B = random_spd(getkey(), n, cond=8.0)
    xb, truth = jr.normal(getkey(), (n,)), jr.normal(getkey(), (n,))
    mask = jnp.zeros(n, bool).at[jnp.array([1, 4, 7])].set(True)
    y = jnp.where(mask, truth, jnp.nan)
    oi = vdx.OptimalInterpolation(
        vdx.MaskedIdentity(), vdx.dense_covariance(B), vdx.diagonal_covariance(jnp.full(n, 0.5))
    )
    dx = np.asarray(oi.analyse(xb, y) - xb)
    o, u = np.asarray(mask), ~np.asarray(mask)
    Bn = np.asarray(B)
    regression = Bn[np.ix_(u, o)] @ np.linalg.solve(Bn[np.ix_(o, o)], dx[o])
    np.testing.assert_allclose(dx[u], regression, atol=1e-10)


def test_missing_value_is_ignored_not_pulled_to_zero(getkey):
    """A finite junk value where mask is False must not change the analysis."""
    n = 6
    xb, y = jr.normal(getkey(), (n,)), jr.normal(getkey(), (n,))
    mask = jnp.array([True, False, True, True, False, True])
    oi = vdx.OptimalInterpolation(
        vdx.MaskedIdentity(), vdx.dense_covariance(random_spd(getkey(), n)), vdx.diagonal_covariance(jnp.ones(n))
    )
    a = oi.analyse(xb, y, mask=mask)
    b = oi.analyse(xb, y.at[1].set(1e6).at[4].set(0.0), mask=mask)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-12)


def test_batch_call_matches_slices(getkey):
    nb, nt, n = 2, 3, 7
    truth = jr.normal(getkey(), (nb, nt, n))
    mask = jr.uniform(getkey(), (nb, nt, n)) < 0.5
    obs = jnp.where(mask, truth + 0.1 * jr.normal(getkey(), truth.shape), jnp.nan)
    batch = vdx.Batch1D(obs, mask, truth)
    oi = vdx.OptimalInterpolation(
        vdx.MaskedIdentity(),
        vdx.matern_covariance(jnp.arange(n), variance=2.0, length_scale=2.0),
        vdx.diagonal_covariance(jnp.full(n, 0.01)),
    )
    background = jr.normal(getkey(), (n,))
    out = oi(batch, background=background)
    assert out.shape == (nb, nt, n)
    for b in range(nb):
        for t in range(nt):
            np.testing.assert_allclose(
                np.asarray(out[b, t]), np.asarray(oi.analyse(background, obs[b, t])), atol=1e-10
            )
    # zero background by default
    np.testing.assert_allclose(
        np.asarray(oi(batch)[1, 2]), np.asarray(oi.analyse(jnp.zeros(n), obs[1, 2])), atol=1e-10
    )


def test_analysis_step_uses_the_operators_it_is_given(getkey):
    n, m = 6, 4
    xb, y, H, B, R, mask = make_problem(getkey, n, m, 1.0)
    H2 = jr.normal(getkey(), (m, n))
    R2 = random_spd(getkey(), m, cond=3.0)
    oi = vdx.OptimalInterpolation(vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    step = oi.as_analysis_step()
    assert isinstance(step, vdx.AnalysisStep)
    got = step(xb, y, obs_op=vdx.LinearObs(H2), obs_err_cov=vdx.dense_covariance(R2))
    expected, _, _ = dense_blue(xb, y, H2, B, R2, np.ones(m, bool))
    np.testing.assert_allclose(np.asarray(got), expected, atol=1e-6)
    stored = oi.analyse(xb, y)
    assert float(jnp.max(jnp.abs(got - stored))) > 1e-3
    # the background handed to the step is the one used
    got2 = step(xb + 1.0, y, obs_op=vdx.LinearObs(H2), obs_err_cov=vdx.dense_covariance(R2))
    expected2, _, _ = dense_blue(xb + 1.0, y, H2, B, R2, np.ones(m, bool))
    np.testing.assert_allclose(np.asarray(got2), expected2, atol=1e-6)


def test_float32_matches_float64(getkey):
    xb, y, H, B, R, mask = make_problem(getkey, 8, 5, 0.7)
    y = jnp.where(mask, y, jnp.nan)
    expected = dense_blue(xb, jnp.where(mask, y, 0.0), H, B, R, mask)[0]
    with jax.enable_x64(False):
        f32 = lambda a: jnp.asarray(np.asarray(a, np.float32))  # noqa: E731
        oi = vdx.OptimalInterpolation(
            vdx.LinearObs(f32(H)), vdx.dense_covariance(f32(B)), vdx.dense_covariance(f32(R))
        )
        xa = oi.analyse(f32(xb), f32(y))
        assert xa.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(xa), expected, rtol=1e-4, atol=1e-4)


def test_jit_and_vmap(getkey):
    xb, y, H, B, R, mask = make_problem(getkey, 5, 5, 1.0)
    oi = vdx.OptimalInterpolation(vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    ys = jr.normal(getkey(), (4, 5))
    out = jax.jit(jax.vmap(oi.analyse, in_axes=(None, 0)))(xb, ys)
    for i in range(4):
        np.testing.assert_allclose(np.asarray(out[i]), np.asarray(oi.analyse(xb, ys[i])), atol=1e-10)


def test_analyse_under_jit_with_captured_concrete_inputs(getkey):
    """Value checks must not call bool() on a traced array when inputs are closed over."""
    xb, y, H, B, R, mask = make_problem(getkey, 5, 5, 1.0)
    oi = vdx.OptimalInterpolation(vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    out = jax.jit(lambda: oi.analyse(xb, y, mask=mask))()
    np.testing.assert_allclose(np.asarray(out), np.asarray(oi.analyse(xb, y, mask=mask)), atol=1e-12)
    method = vdx.ThreeDVar(vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    out3 = jax.jit(lambda: method.analyse(xb, y))()
    np.testing.assert_allclose(np.asarray(out3), np.asarray(out), atol=1e-6)
    ak = jax.jit(lambda: vdx.AveragingKernel(H, xb, jnp.full(5, 0.5))(xb))()
    assert ak.shape == (5,)
    d = jax.jit(lambda: vdx.diagonal_covariance(jnp.abs(xb) + 1.0).mv(xb))()
    assert d.shape == (5,)
