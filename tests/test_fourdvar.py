"""The 4DVar family: BLUE limits, incremental = strong, gradients, adjoints, errors."""

import diffrax as dfx
import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import optimistix as optx
import pytest

import vardax_tutorials as vdx

from .conftest import random_spd
from .test_oi import dense_blue


class Persistence(vdx.AbstractRK4Model):
    """The identity forward model, M(x) = x."""

    n: int = 6
    dt: float = 0.1

    @property
    def state_size(self):
        return self.n

    def tendency(self, state):
        return jnp.zeros_like(state)


class LinearTendency(vdx.AbstractRK4Model):
    """dx/dt = L x stepped by RK4: a linear model (build with keywords, `LinearTendency(L=..., dt=...)`)."""

    dt: float
    L: jax.Array

    @property
    def state_size(self):
        return self.L.shape[0]

    def tendency(self, x):
        return self.L @ x

    def matrix(self):
        """The one-step matrix M = I + hL + (hL)^2/2 + (hL)^3/6 + (hL)^4/24."""
        return jax.jacobian(lambda x: self.step(x, self.dt))(jnp.zeros(self.state_size))


def linear_problem(getkey, n=6, m=4):
    B = random_spd(getkey(), n, cond=10.0)
    R = random_spd(getkey(), m, cond=3.0)
    H = jr.normal(getkey(), (m, n))
    return B, R, H, jr.normal(getkey(), (n,)), jr.normal(getkey(), (m,))


def test_every_4dvar_equals_blue_on_identity_forward_one_time(getkey):
    B, R, H, xb, y = linear_problem(getkey)
    expected = dense_blue(xb, y, H, B, R, np.ones(4, bool))[0]
    args = (Persistence(), vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    strong = vdx.StrongFourDVar(*args).solve(xb, y[None])
    weak = vdx.WeakFourDVar(*args, model_err_cov=vdx.diagonal_covariance(jnp.full(6, 1e-8))).solve(xb, y[None])
    inc = vdx.IncrementalFourDVar(*args, config=vdx.IncrementalConfig(n_outer=1, cg_tol=1e-12)).solve(xb, y[None])
    for sol in (strong, weak, inc):
        np.testing.assert_allclose(np.asarray(sol.initial_state), expected, atol=1e-6)
    oi = vdx.OptimalInterpolation(vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    for step in (vdx.StrongFourDVar(*args).as_analysis_step(),
                 vdx.WeakFourDVar(*args, model_err_cov=vdx.diagonal_covariance(jnp.full(6, 1e-8))).as_analysis_step(),
                 vdx.IncrementalFourDVar(*args).as_analysis_step()):
        assert isinstance(step, vdx.AnalysisStep)
        got = step(xb, y, obs_op=vdx.LinearObs(H), obs_err_cov=vdx.dense_covariance(R))
        np.testing.assert_allclose(np.asarray(got), np.asarray(oi.analyse(xb, y)), atol=1e-6)


def test_strong_equals_kalman_smoother_on_linear_model(getkey):
    """Linear model and H, several times: strong 4DVar = the BLUE of x0 given all rows."""
    n, T = 4, 5
    B = random_spd(getkey(), n, cond=5.0)
    model = LinearTendency(L=0.2 * jr.normal(getkey(), (n, n)), dt=0.5)
    A = model.matrix()
    H = jnp.eye(n)[:2]
    xb, y = jr.normal(getkey(), (n,)), jr.normal(getkey(), (T, 2))
    R = 0.3 * np.eye(2)
    G = np.concatenate([np.asarray(H @ jnp.linalg.matrix_power(A, t)) for t in range(T)])
    expected = dense_blue(xb, np.asarray(y).reshape(-1), G, B, np.kron(np.eye(T), R), np.ones(2 * T, bool))[0]
    sol = vdx.StrongFourDVar(model, vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R)).solve(xb, y)
    np.testing.assert_allclose(np.asarray(sol.initial_state), expected, atol=1e-6)


def lorenz_problem(key, n_times=25):
    model = vdx.Lorenz63()
    p = vdx.generate_problem(model, key=key, n_times=n_times, obs_std=1.0, mask=jnp.array([True, False, True]),
                             background_std=2.0)
    return model, p, vdx.diagonal_covariance(jnp.full(3, 4.0))


def test_incremental_reaches_strong_optimum(getkey):
    model, p, B = lorenz_problem(getkey())
    strong = vdx.StrongFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov).solve(p.background, p.obs)
    for cvt in (False, True):
        inc = vdx.IncrementalFourDVar(
            model, vdx.MaskedIdentity(), B, p.obs_cov, vdx.IncrementalConfig(n_outer=6, n_inner=50, cg_tol=1e-10, cvt=cvt)
        ).solve(p.background, p.obs)
        rel = float(jnp.linalg.norm(inc.initial_state - strong.initial_state) / jnp.linalg.norm(strong.initial_state))
        assert rel <= 1e-4, rel
        assert inc.stats["outer_costs"].shape == (7,) and inc.stats["inner_iterations"].shape == (6,)
        assert bool(jnp.all(jnp.diff(inc.stats["outer_costs"]) <= 1e-9))
        assert float(inc.stats["outer_grad_norms"][-1]) < 1e-6 * float(inc.stats["outer_grad_norms"][0])
    assert bool(strong.converged)
    assert float(vdx.rmse(strong.initial_state, p.truth[0])) < float(vdx.rmse(p.background, p.truth[0]))


ADJOINTS = {
    "lax_scan": None,
    "recursive_checkpoint": dfx.RecursiveCheckpointAdjoint(),
    "direct": dfx.DirectAdjoint(),
    "forward_mode": dfx.ForwardMode(),
}


def cost_and_grad(meth, x, p):
    f = lambda z: meth.cost(z, p.background, p.obs)  # noqa: E731
    if isinstance(meth.forward_adjoint, dfx.ForwardMode):
        return f(x), jax.jacfwd(f)(x)
    return jax.value_and_grad(f)(x)


@pytest.mark.parametrize("name", list(ADJOINTS))
def test_4dvar_gradient_matches_finite_differences(getkey, name):
    model, p, B = lorenz_problem(getkey(), n_times=20)
    meth = vdx.StrongFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov, forward_adjoint=ADJOINTS[name])
    x = p.background
    _, g = cost_and_grad(meth, x, p)
    v = jr.normal(getkey(), (3,))
    eps = 1e-5
    fd = (meth.cost(x + eps * v, p.background, p.obs) - meth.cost(x - eps * v, p.background, p.obs)) / (2 * eps)
    assert abs(float(jnp.vdot(g, v)) - float(fd)) <= 1e-6 * abs(float(fd))
    ref = cost_and_grad(vdx.StrongFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov,
                                           forward_adjoint=dfx.DirectAdjoint()), x, p)[1]
    np.testing.assert_allclose(np.asarray(g), np.asarray(ref), rtol=1e-8, atol=1e-10)


def test_backsolve_gradient_error_is_measured(getkey):
    """Backsolve integrates the adjoint backwards in continuous time: close to, not equal to, the discrete gradient.

    Lorenz-96 with dt = 0.05 (not a binary fraction): with the window integrated
    in physical time the save times missed the step ends and Backsolve's
    gradient was off by 4.3 (relative) on this 20-step window; in step units it
    is off by about 1.6e-3, the continuous-adjoint error.
    """
    model = vdx.Lorenz96(n=40, dt=0.05)
    p = vdx.generate_problem(model, key=getkey(), n_times=20, obs_std=1.0, background_std=1.0, spin_up=500)
    grads = {}
    for name, adj in (("direct", dfx.DirectAdjoint()), ("back", dfx.BacksolveAdjoint())):
        meth = vdx.StrongFourDVar(model, vdx.MaskedIdentity(), p.prior_cov, p.obs_cov, forward_adjoint=adj)
        grads[name] = cost_and_grad(meth, p.background, p)[1]
    err = float(jnp.linalg.norm(grads["back"] - grads["direct"]) / jnp.linalg.norm(grads["direct"]))
    assert 1e-8 < err < 1e-2


def test_window_in_step_units_hits_every_observation_time():
    """Every diffrax adjoint reproduces the scan window for a step that is not a binary fraction."""
    model = vdx.Lorenz96(n=12, dt=0.05)
    x0 = vdx.rollout(model, jnp.full(12, 8.0).at[0].add(0.01), 200)[-1]
    ref = vdx.window(model, x0, 30)
    for adj in (dfx.RecursiveCheckpointAdjoint(), dfx.BacksolveAdjoint(), dfx.DirectAdjoint(), dfx.ForwardMode()):
        np.testing.assert_allclose(np.asarray(vdx.window(model, x0, 30, adj)), np.asarray(ref), rtol=0, atol=1e-10)
    # a long window, where recursive checkpointing recomputes: still the exact (Direct) gradient
    grads = [jax.grad(lambda x, a=adj: jnp.sum(jnp.sin(vdx.window(model, x, 100, a))))(x0)
             for adj in (dfx.RecursiveCheckpointAdjoint(), dfx.DirectAdjoint())]
    np.testing.assert_allclose(np.asarray(grads[0]), np.asarray(grads[1]), rtol=1e-12, atol=0)


def test_solve_under_each_adjoint_agrees(getkey):
    model, p, B = lorenz_problem(getkey(), n_times=15)
    ref = vdx.StrongFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov).solve(p.background, p.obs)
    for adj in (dfx.RecursiveCheckpointAdjoint(), dfx.ForwardMode()):
        sol = vdx.StrongFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov, forward_adjoint=adj).solve(p.background, p.obs)
        np.testing.assert_allclose(np.asarray(sol.initial_state), np.asarray(ref.initial_state), atol=1e-6)
    gn = vdx.StrongFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov,
                            minimiser=optx.GaussNewton(rtol=1e-10, atol=1e-10)).solve(p.background, p.obs)
    np.testing.assert_allclose(np.asarray(gn.initial_state), np.asarray(ref.initial_state), atol=1e-6)


def test_weak_tends_to_strong_and_fits_model_error(getkey):
    model, p, B = lorenz_problem(getkey(), n_times=15)
    strong = vdx.StrongFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov).solve(p.background, p.obs)
    weak = vdx.WeakFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov, vdx.diagonal_covariance(jnp.full(3, 1e-10)),
                            cvt=True).solve(p.background, p.obs)
    np.testing.assert_allclose(np.asarray(weak.initial_state), np.asarray(strong.initial_state), atol=1e-4)
    assert weak.model_error.shape == (14, 3)
    loose = vdx.WeakFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov, vdx.diagonal_covariance(jnp.full(3, 0.1)),
                             cvt=True).solve(p.background, p.obs)
    assert float(loose.cost) < float(strong.cost)
    np.testing.assert_allclose(
        np.asarray(loose.trajectory[1:]),
        np.asarray(jax.vmap(model.step)(loose.trajectory[:-1]) + loose.model_error), atol=1e-10,
    )


def test_incremental_cvt_converges_on_two_level_lorenz96_slow_obs(getkey):
    model = vdx.Lorenz96TwoLevel(K=8, J=8, dt=0.005)
    n = model.state_size
    x0 = jnp.concatenate([8.0 + jr.normal(getkey(), (8,)), 0.1 * jr.normal(getkey(), (64,))])
    slow = jnp.arange(n) < 8
    p = vdx.generate_problem(model, key=getkey(), n_times=20, x0=x0, spin_up=2000, obs_std=0.5, mask=slow,
                             background_std=0.5)
    B = vdx.diagonal_covariance(jnp.concatenate([jnp.full(8, 1.0), jnp.full(64, 0.05)]))
    inc = vdx.IncrementalFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov,
                                  vdx.IncrementalConfig(n_outer=4, n_inner=60, cg_tol=1e-8, cvt=True),
                                  throw=False).solve(p.background, p.obs)
    assert bool(jnp.all(jnp.isfinite(inc.trajectory)))
    norms = inc.stats["outer_grad_norms"]
    assert float(norms[-1]) < 0.1 * float(norms[0])
    assert float(vdx.rmse(inc.initial_state[:8], p.truth[0, :8])) < float(vdx.rmse(p.background[:8], p.truth[0, :8]))


def test_cvt_reduces_cg_iterations(getkey):
    model = vdx.Lorenz96(n=20)
    p = vdx.generate_problem(model, key=getkey(), n_times=6, obs_std=0.5, obs_fraction=0.5, background_std=1.0)
    B = vdx.MaternCovariance(jnp.arange(20.0), length_scale=3.0, nu=2.5, period=20.0)
    iters = {}
    for cvt in (False, True):
        inc = vdx.IncrementalFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov,
                                      vdx.IncrementalConfig(n_outer=1, n_inner=2000, cg_tol=1e-8, cvt=cvt), throw=False)
        iters[cvt] = int(inc.solve(p.background, p.obs).stats["inner_iterations"][0])
    assert iters[True] < iters[False], iters


def test_gauss_newton_with_every_forward_adjoint(getkey):
    """Least squares needs the window's Jacobian: forward mode where the adjoint allows it, else `jac="bwd"`."""
    model = vdx.Lorenz96(n=8)
    p = vdx.generate_problem(model, key=getkey(), n_times=4, obs_std=0.5, background_std=1.0, spin_up=200)
    args = (model, vdx.MaskedIdentity(), p.prior_cov, p.obs_cov)
    gn = optx.GaussNewton(rtol=1e-10, atol=1e-10)
    ref = vdx.StrongFourDVar(*args, minimiser=gn).solve(p.background, p.obs)
    for adjoint in (dfx.RecursiveCheckpointAdjoint(), dfx.DirectAdjoint(), dfx.ForwardMode()):
        sol = vdx.StrongFourDVar(*args, minimiser=gn, forward_adjoint=adjoint).solve(p.background, p.obs)
        assert bool(sol.converged)
        np.testing.assert_allclose(np.asarray(sol.initial_state), np.asarray(ref.initial_state), atol=1e-8)
    # BacksolveAdjoint's gradient is a continuous adjoint: close, not equal (see test_backsolve_gradient_error_is_measured)
    sol = vdx.StrongFourDVar(*args, minimiser=gn, forward_adjoint=dfx.BacksolveAdjoint()).solve(p.background, p.obs)
    assert 0 < float(jnp.max(jnp.abs(sol.initial_state - ref.initial_state))) < 1e-2


class CubeRoot(vdx.AbstractObservationOperator):
    """H(x) = x^(1/3): finite everywhere, with an infinite derivative at 0."""

    def __call__(self, state, mask=None):
        return jnp.cbrt(state) if mask is None else jnp.where(mask, jnp.cbrt(state), 0.0)

    def linearize(self, state):
        return lx.DiagonalLinearOperator(jnp.cbrt(state) / (3 * state))


@pytest.mark.usefixtures("library_messages")
def test_incremental_stops_with_a_clear_error_on_singular_covariances_and_breakdown():
    """The inner Hessian contains B^{-1} (or I with cvt), so it is singular only through B or R."""
    v = np.array([1.0, 1.0, 0.0])
    singular = vdx.dense_covariance(np.outer(v, v) + np.diag([1.0, 1.0, 0.0]))
    ok = vdx.diagonal_covariance(jnp.ones(3))
    model, xb, obs = vdx.Lorenz63(), jnp.array([1.0, 2.0, 20.0]), jnp.ones((3, 3))
    for cvt in (False, True):
        cfg = vdx.IncrementalConfig(n_outer=2, cvt=cvt)
        with pytest.raises(ValueError, match="prior_cov cannot be whitened"):
            vdx.IncrementalFourDVar(model, vdx.MaskedIdentity(), singular, ok, cfg).solve(xb, obs)
        with pytest.raises(ValueError, match="obs_cov cannot be whitened"):
            vdx.IncrementalFourDVar(model, vdx.MaskedIdentity(), ok, singular, cfg).solve(xb, obs)
        with pytest.raises(FloatingPointError, match=r"conjugate-gradient solve broke down.*\(outer iteration 0, the window run from the starting point\)"):
            vdx.IncrementalFourDVar(Persistence(n=3), CubeRoot(), ok, ok, cfg).solve(jnp.array([0.0, 1.0, 2.0]), obs)
    # under jit the same failure is an equinox runtime error, not a NaN
    inc = vdx.IncrementalFourDVar(model, vdx.MaskedIdentity(), singular, ok, vdx.IncrementalConfig(n_outer=2))
    with pytest.raises(Exception, match="prior_cov cannot be whitened"):
        jax.block_until_ready(jax.jit(lambda b: inc.solve(b, obs).initial_state)(xb))


def test_one_step_and_k_step_adjoints():
    F = lambda y, th: y**3 + y - th  # noqa: E731

    def root(th, adjoint):
        return optx.root_find(F, optx.Newton(rtol=1e-12, atol=1e-12), jnp.array(0.5), th, adjoint=adjoint).value

    th = jnp.array(2.0)
    y = root(th, optx.ImplicitAdjoint())
    exact = 1.0 / (3 * y**2 + 1)
    assert abs(float(root(th, vdx.OneStepAdjoint())) - float(y)) < 1e-12
    np.testing.assert_allclose(float(jax.grad(root)(th, vdx.OneStepAdjoint())), float(exact), rtol=1e-10)

    g = lambda y, th: 0.5 * jnp.cos(y) + th  # noqa: E731

    def fixed(th, adjoint):
        return optx.fixed_point(g, optx.FixedPointIteration(rtol=1e-12, atol=1e-12), jnp.array(0.0), th,
                                adjoint=adjoint).value

    yf = fixed(th, optx.ImplicitAdjoint())
    exact_f = 1.0 / (1.0 + 0.5 * jnp.sin(yf))
    errors = [abs(float(jax.grad(fixed)(th, vdx.KStepAdjoint(k))) - float(exact_f)) for k in (1, 2, 4, 8)]
    assert all(b < a for a, b in zip(errors, errors[1:])) and errors[-1] < 1e-2
    with pytest.raises(ValueError, match=r"k=0, expected an integer >= 1"):
        vdx.KStepAdjoint(0)
