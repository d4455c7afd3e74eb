"""Identities theory says must hold: smoother equivalences, Gauss-Newton, the chi-square of J_min, transformations."""

import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import optimistix as optx
import pytest

import vardax_tutorials as vdx

from .conftest import random_spd
from .test_fourdvar import LinearTendency

GN = optx.GaussNewton(rtol=1e-12, atol=1e-12)


def rts_smoother(A, H, Q, R, B, xb, y):
    """Kalman filter and Rauch-Tung-Striebel smoother in NumPy: the posterior means of x_0..x_{T-1}."""
    n, T = len(xb), len(y)
    m_f, P_f, m_p, P_p = [], [], [], []
    m, P = np.asarray(xb, float), np.asarray(B, float)
    for t in range(T):
        if t > 0:
            m, P = A @ m, A @ P @ A.T + Q
        m_p.append(m)
        P_p.append(P)
        K = P @ H.T @ np.linalg.inv(H @ P @ H.T + R)
        m, P = m + K @ (y[t] - H @ m), (np.eye(n) - K @ H) @ P
        m_f.append(m)
        P_f.append(P)
    smoothed = [m_f[-1]]
    for t in range(T - 2, -1, -1):
        C = P_f[t] @ A.T @ np.linalg.inv(P_p[t + 1])
        smoothed.insert(0, m_f[t] + C @ (smoothed[0] - m_p[t + 1]))
    return np.array(smoothed)


@pytest.mark.parametrize("cvt", [False, True])
def test_weak_fourdvar_equals_the_rts_smoother_with_model_error(getkey, cvt):
    n, T = 4, 6
    model = LinearTendency(L=0.3 * jr.normal(getkey(), (n, n)), dt=0.4)
    A = np.asarray(model.matrix())
    H = np.eye(n)[[0, 2]]
    B, Q, R = np.asarray(random_spd(getkey(), n, cond=5.0)), 0.1 * np.asarray(random_spd(getkey(), n, cond=3.0)), 0.2 * np.eye(2)
    xb, y = np.asarray(jr.normal(getkey(), (n,))), np.asarray(jr.normal(getkey(), (T, 2)))
    weak = vdx.WeakFourDVar(model, vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R),
                            vdx.dense_covariance(Q), minimiser=GN, cvt=cvt).solve(xb, y)
    expected = rts_smoother(A, H, Q, R, B, xb, y)
    np.testing.assert_allclose(np.asarray(weak.trajectory), expected, atol=1e-9)
    # with Q > 0 the smoother is not the strong-constraint trajectory
    strong = vdx.StrongFourDVar(model, vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R),
                                minimiser=GN).solve(xb, y)
    assert float(np.max(np.abs(np.asarray(strong.trajectory) - expected))) > 1e-2


@pytest.mark.parametrize("cvt", [False, True])
def test_incremental_fourdvar_is_gauss_newton(getkey, cvt):
    """Outer iteration k of incremental 4DVar = iterate k of optx.GaussNewton (which accepts a step one
    iteration after proposing it, hence max_steps = k + 1)."""
    model = vdx.Lorenz63()
    p = vdx.generate_problem(model, key=getkey(), n_times=30, obs_std=1.0, mask=jnp.array([True, False, True]),
                             background_std=2.0)
    args = (model, vdx.MaskedIdentity(), vdx.diagonal_covariance(jnp.full(3, 4.0)), p.obs_cov)
    gn = optx.GaussNewton(rtol=1e-30, atol=1e-30, linear_solver=lx.Normal(lx.Cholesky()))
    moved = []
    for k in (1, 2, 3):
        config = vdx.IncrementalConfig(n_outer=k, n_inner=50, cg_tol=1e-14, cvt=cvt)
        inc = vdx.IncrementalFourDVar(*args, config, throw=False).solve(p.background, p.obs)
        ref = vdx.StrongFourDVar(*args, minimiser=gn, max_steps=k + 1, throw=False).solve(p.background, p.obs)
        np.testing.assert_allclose(np.asarray(inc.initial_state), np.asarray(ref.initial_state), atol=1e-9)
        moved.append(float(jnp.max(jnp.abs(inc.initial_state - p.background))))
    assert min(moved) > 1e-2  # each comparison is of a real move


def test_twice_the_minimum_cost_is_chi_square_with_p_degrees(getkey):
    """E[2 J_min] = p (the number of observations) and Var = 2p, over many linear-Gaussian draws."""
    n, m, draws = 5, 4, 2000
    B, R = random_spd(getkey(), n, cond=10.0), random_spd(getkey(), m, cond=4.0)
    Hm = jr.normal(getkey(), (m, n))
    mask = jnp.array([True, True, False, True])
    p = int(mask.sum())
    method = vdx.ThreeDVar(vdx.LinearObs(Hm), vdx.dense_covariance(B), vdx.dense_covariance(R), minimiser=GN)
    LB, LR = jnp.linalg.cholesky(B), jnp.linalg.cholesky(R)
    k1, k2, k3 = jr.split(getkey(), 3)
    truth = jr.normal(k1, (draws, n))
    xb = truth + jr.normal(k2, (draws, n)) @ LB.T
    y = truth @ Hm.T + jr.normal(k3, (draws, m)) @ LR.T
    y = jnp.where(mask, y, jnp.nan)
    two_j = 2 * jax.vmap(lambda b, o: method.solve(b, o).cost)(xb, y)
    sd_of_mean = np.sqrt(2 * p / draws)
    assert abs(float(two_j.mean()) - p) < 4.5 * sd_of_mean
    assert abs(float(two_j.var()) - 2 * p) < 0.25 * 2 * p
    # the check can fail: with B and R four times too small (over-confident), E[2 J_min] = 4p
    wrong = vdx.ThreeDVar(vdx.LinearObs(Hm), vdx.dense_covariance(B / 4), vdx.dense_covariance(R / 4), minimiser=GN)
    two_j_wrong = 2 * jax.vmap(lambda b, o: wrong.solve(b, o).cost)(xb, y)
    assert abs(float(two_j_wrong.mean()) - 4 * p) < 4.5 * 4 * sd_of_mean


def test_chi_square_of_strong_fourdvar_on_a_linear_model(getkey):
    n, T, draws = 4, 4, 1000
    model = LinearTendency(L=0.3 * jr.normal(getkey(), (n, n)), dt=0.4)
    A = model.matrix()
    Hm = jnp.eye(n)[:2]
    B, R = random_spd(getkey(), n, cond=5.0), 0.3 * jnp.eye(2)
    method = vdx.StrongFourDVar(model, vdx.LinearObs(Hm), vdx.dense_covariance(B), vdx.dense_covariance(R), minimiser=GN)
    k1, k2, k3 = jr.split(getkey(), 3)
    x0 = jr.normal(k1, (draws, n))
    xb = x0 + jr.normal(k2, (draws, n)) @ jnp.linalg.cholesky(B).T
    states = jnp.stack([x0 @ jnp.linalg.matrix_power(A, t).T for t in range(T)], axis=1)  # (draws, T, n)
    y = states @ Hm.T + jnp.sqrt(0.3) * jr.normal(k3, (draws, T, 2))
    two_j = 2 * jax.vmap(lambda b, o: method.solve(b, o).cost)(xb, y)
    p = T * 2
    assert abs(float(two_j.mean()) - p) < 4.5 * np.sqrt(2 * p / draws)


def fourdvar_methods(model, B, R):
    H = vdx.MaskedIdentity()
    return {
        "strong": vdx.StrongFourDVar(model, H, B, R),
        "weak": vdx.WeakFourDVar(model, H, B, R, vdx.diagonal_covariance(jnp.full(model.n, 0.01))),
        "incremental": vdx.IncrementalFourDVar(model, H, B, R, vdx.IncrementalConfig(n_outer=6, cg_tol=1e-12)),
    }


@pytest.mark.parametrize("name", ["strong", "weak", "incremental"])
def test_every_fourdvar_under_jit_vmap_and_float32(getkey, name):
    model = vdx.Lorenz96(n=6)
    p = vdx.generate_problem(model, key=getkey(), n_times=4, obs_std=0.5, obs_fraction=0.7, background_std=0.5, spin_up=300)
    method = fourdvar_methods(model, p.prior_cov, p.obs_cov)[name]
    eager = method.analyse(p.background, p.obs)
    jitted = jax.jit(lambda b, y: method.analyse(b, y))
    np.testing.assert_allclose(np.asarray(jitted(p.background, p.obs)), np.asarray(eager), atol=1e-12)
    backgrounds = p.background[None] + 0.1 * jr.normal(getkey(), (3, 6))
    batched = jax.vmap(method.analyse, in_axes=(0, None))(backgrounds, p.obs)
    one_by_one = jnp.stack([method.analyse(b, p.obs) for b in backgrounds])
    np.testing.assert_allclose(np.asarray(batched), np.asarray(one_by_one), atol=1e-7)
    f32 = method.analyse(np.asarray(p.background, np.float32), np.asarray(p.obs, np.float32))
    assert f32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(f32), np.asarray(eager), rtol=1e-3, atol=1e-3)


METHODS = ["oi", "threedvar", "strong", "weak", "incremental"]


@pytest.mark.parametrize("name", METHODS)
def test_gradient_with_respect_to_observations_is_finite_and_zero_where_masked(getkey, name):
    model = vdx.Lorenz96(n=6)
    p = vdx.generate_problem(model, key=getkey(), n_times=3, obs_std=0.5, obs_fraction=0.6, background_std=0.5, spin_up=300)
    assert bool(jnp.any(~p.mask)) and bool(jnp.any(jnp.isnan(p.obs)))  # NaN where not observed
    B, R = p.prior_cov, p.obs_cov
    if name in ("oi", "threedvar"):
        method = (vdx.OptimalInterpolation if name == "oi" else vdx.ThreeDVar)(vdx.MaskedIdentity(), B, R)
        obs, mask = p.obs[0], p.mask[0]
    else:
        method = fourdvar_methods(model, B, R)[name]
        obs, mask = p.obs, p.mask
    w = jr.normal(getkey(), (6,))
    grad = jax.grad(lambda y: jnp.vdot(w, method.analyse(p.background, y, mask)))(obs)
    assert bool(jnp.all(jnp.isfinite(grad))), grad
    np.testing.assert_array_equal(np.asarray(grad)[~np.asarray(mask)], 0.0)
    assert float(jnp.max(jnp.abs(grad))) > 1e-3
