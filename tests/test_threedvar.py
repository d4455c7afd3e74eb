"""ThreeDVar: equals BLUE on linear H with every minimiser, handles nonlinear H, reports."""

import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import optimistix as optx
import pytest

import vardax_tutorials as vdx

from .conftest import random_spd
from .test_oi import dense_blue, make_problem

TOL = 1e-11
MINIMISERS = {
    "bfgs": None,
    "nonlinear_cg": optx.NonlinearCG(rtol=TOL, atol=TOL),
    "gauss_newton": optx.GaussNewton(rtol=TOL, atol=TOL),
}


@pytest.mark.parametrize("name", list(MINIMISERS))
@pytest.mark.parametrize("observed_fraction", [1.0, 0.6])
@pytest.mark.parametrize("cvt", [False, True])
def test_threedvar_equals_blue_on_linear_h(getkey, name, observed_fraction, cvt):
    xb, y, H, B, R, mask = make_problem(getkey, 8, 5, observed_fraction)
    y_nan = jnp.where(mask, y, jnp.nan)
    method = vdx.ThreeDVar(
        vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R),
        minimiser=MINIMISERS[name], max_steps=2000, cvt=cvt,
    )
    sol = method.solve(xb, y_nan)
    expected = dense_blue(xb, y, H, B, R, mask)[0]
    assert bool(sol.converged)
    np.testing.assert_allclose(np.asarray(sol.analysis), expected, atol=1e-6)
    oi = vdx.OptimalInterpolation(vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    np.testing.assert_allclose(np.asarray(sol.analysis), np.asarray(oi.analyse(xb, y_nan)), atol=1e-6)


def test_gauss_newton_is_exact_in_one_step_on_linear_h(getkey):
    xb, y, H, B, R, mask = make_problem(getkey, 6, 6, 1.0)
    sol = vdx.ThreeDVar(
        vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R), minimiser=MINIMISERS["gauss_newton"]
    ).solve(xb, y)
    # one Gauss-Newton step solves a quadratic; optimistix needs a few more to certify convergence
    assert int(sol.num_steps) <= 3


def test_cost_terms_match_dense_formula(getkey):
    n, m = 7, 5
    xb, y, H, B, R, mask = make_problem(getkey, n, m, 0.6)
    y_nan = jnp.where(mask, y, jnp.nan)
    x = jr.normal(getkey(), (n,))
    parts = vdx.decomposed_loss(x, xb, y_nan, vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    o = np.asarray(mask)
    dx = np.asarray(x - xb)
    r = np.asarray(y - H @ x)[o]
    jb = 0.5 * dx @ np.linalg.solve(np.asarray(B), dx)
    jo = 0.5 * r @ np.linalg.solve(np.asarray(R)[np.ix_(o, o)], r)
    np.testing.assert_allclose(float(parts["prior"]), jb, rtol=1e-10)
    np.testing.assert_allclose(float(parts["obs"]), jo, rtol=1e-10)
    np.testing.assert_allclose(float(parts["total"]), jb + jo, rtol=1e-10)
    w = vdx.covariance.Whitener.of(vdx.dense_covariance(B))
    np.testing.assert_allclose(float(vdx.prior_cost(x, xb, w)), jb, rtol=1e-10)
    sol = vdx.ThreeDVar(vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R)).solve(xb, y_nan)
    at_opt = vdx.decomposed_loss(sol.analysis, xb, y_nan, vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    np.testing.assert_allclose(float(sol.prior_cost), float(at_opt["prior"]), rtol=1e-8)
    np.testing.assert_allclose(float(sol.obs_cost), float(at_opt["obs"]), rtol=1e-8)


class Square(vdx.AbstractObservationOperator):
    """H(x) = x**2 on the first m entries: nonlinear."""

    m: int = 4

    def __call__(self, state, mask=None):
        return vdx.obs.apply_mask(state[: self.m] ** 2, mask)

    def linearize(self, state):
        return lx.JacobianLinearOperator(lambda x, _: self(x), state)


def test_nonlinear_h_reaches_a_stationary_point_better_than_one_linear_update(getkey):
    n = 6
    B = vdx.diagonal_covariance(jnp.full(n, 1.0))
    R = vdx.diagonal_covariance(jnp.full(4, 0.01))
    truth = jnp.array([2.0, 1.5, -1.0, 1.2, 0.3, -0.2])
    xb = truth + jnp.array([0.8, -0.6, 0.5, 0.7, 0.1, 0.2])
    y = Square()(truth) + 0.1 * jr.normal(getkey(), (4,))
    sol = vdx.ThreeDVar(Square(), B, R).solve(xb, y)
    assert bool(sol.converged)
    grad = jax.grad(lambda x: vdx.decomposed_loss(x, xb, y, Square(), B, R)["total"])(sol.analysis)
    assert float(jnp.max(jnp.abs(grad))) < 1e-6
    # a single linearised (BLUE) update about the background
    J = Square().linearize(xb).as_matrix()
    K = np.asarray(B.as_matrix()) @ np.asarray(J).T @ np.linalg.inv(
        np.asarray(J) @ np.asarray(B.as_matrix()) @ np.asarray(J).T + np.asarray(R.as_matrix())
    )
    x_lin = xb + K @ np.asarray(y - Square()(xb))
    cost = lambda x: float(vdx.decomposed_loss(x, xb, y, Square(), B, R)["total"])  # noqa: E731
    assert cost(sol.analysis) < 0.5 * cost(x_lin)
    assert float(vdx.rmse(sol.analysis, truth)) < float(vdx.rmse(x_lin, truth))


@pytest.mark.usefixtures("library_messages")
def test_reports_non_convergence(getkey):
    xb, y, H, B, R, mask = make_problem(getkey, 8, 5, 1.0)
    args = (vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    sol = vdx.ThreeDVar(*args, max_steps=2, throw=False).solve(xb, y)
    assert not bool(sol.converged) and int(sol.num_steps) == 2
    with pytest.raises(RuntimeError, match="ThreeDVar: the solver did not converge"):
        vdx.ThreeDVar(*args, max_steps=2).solve(xb, y)


def test_analysis_step_and_batch(getkey):
    n, m = 6, 4
    xb, y, H, B, R, mask = make_problem(getkey, n, m, 1.0)
    H2, R2 = jr.normal(getkey(), (m, n)), random_spd(getkey(), m, cond=3.0)
    step = vdx.ThreeDVar(vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R)).as_analysis_step()
    assert isinstance(step, vdx.AnalysisStep)
    got = step(xb, y, obs_op=vdx.LinearObs(H2), obs_err_cov=vdx.dense_covariance(R2))
    np.testing.assert_allclose(np.asarray(got), dense_blue(xb, y, H2, B, R2, np.ones(m, bool))[0], atol=1e-6)

    truth = jr.normal(getkey(), (2, 3, n))
    bmask = jr.uniform(getkey(), truth.shape) < 0.6
    batch = vdx.Batch1D(jnp.where(bmask, truth, jnp.nan), bmask, truth)
    Bm = vdx.matern_covariance(jnp.arange(n), length_scale=2.0)
    Rm = vdx.diagonal_covariance(jnp.full(n, 0.1))
    out = vdx.ThreeDVar(vdx.MaskedIdentity(), Bm, Rm)(batch)
    ref = vdx.OptimalInterpolation(vdx.MaskedIdentity(), Bm, Rm)(batch)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=1e-6)


def test_float32(getkey):
    xb, y, H, B, R, mask = make_problem(getkey, 6, 4, 1.0)
    expected = dense_blue(xb, y, H, B, R, mask)[0]
    with jax.enable_x64(False):
        f32 = lambda a: jnp.asarray(np.asarray(a, np.float32))  # noqa: E731
        sol = vdx.ThreeDVar(vdx.LinearObs(f32(H)), vdx.dense_covariance(f32(B)), vdx.dense_covariance(f32(R))).solve(
            f32(xb), f32(y)
        )
        assert sol.analysis.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(sol.analysis), expected, rtol=1e-3, atol=1e-3)
