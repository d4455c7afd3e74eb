"""Differentiating an analysis through its minimiser (`minimiser_adjoint`).

On a linear-Gaussian problem the analysis is the BLUE, x_a = x_b + K (y - H x_b),
so its Jacobians are known in closed form: d x_a / d y = K and
d x_a / d x_b = I - K H. Every variational method must reproduce them when
differentiated through its minimiser, whatever the minimiser and the adjoint.
"""

import diffrax as dfx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optimistix as optx
import pytest

import vardax_tutorials as vdx

from .conftest import random_spd
from .test_fourdvar import LinearTendency, Persistence, linear_problem
from .test_oi import dense_blue

TOL = 1e-10
MINIMISERS = {
    "BFGS": optx.BFGS(rtol=TOL, atol=TOL),
    "GaussNewton": optx.GaussNewton(rtol=TOL, atol=TOL),
}


def blue_jacobians(B, R, H, xb, y):
    K = dense_blue(xb, y, H, B, R, np.ones(len(y), bool))[2]
    return K, np.eye(len(xb)) - K @ np.asarray(H)


@pytest.mark.parametrize("name", MINIMISERS)
@pytest.mark.parametrize("cvt", [False, True])
def test_threedvar_sensitivities_are_the_gain(getkey, name, cvt):
    B, R, H, xb, y = linear_problem(getkey)
    K, I_KH = blue_jacobians(B, R, H, xb, y)
    method = vdx.ThreeDVar(vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R),
                           minimiser=MINIMISERS[name], cvt=cvt)
    dy = jax.jacobian(lambda obs: method.analyse(xb, obs))(y)
    dxb = jax.jacobian(lambda bg: method.analyse(bg, y))(xb)
    np.testing.assert_allclose(np.asarray(dy), K, atol=1e-7)
    np.testing.assert_allclose(np.asarray(dxb), I_KH, atol=1e-7)


def test_threedvar_k_step_adjoint_with_gauss_newton(getkey):
    """Gauss-Newton solves a linear problem in one step; differentiating restarted steps gives K.

    The first restarted optimistix step only re-accepts the solution (see
    `KStepAdjoint`), so one step gives a zero derivative and two give K exactly.
    """
    B, R, H, xb, y = linear_problem(getkey)
    K, _ = blue_jacobians(B, R, H, xb, y)
    args = (vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    gn = MINIMISERS["GaussNewton"]
    jac = {}
    for k in (1, 2):
        method = vdx.ThreeDVar(*args, minimiser=gn, minimiser_adjoint=vdx.KStepAdjoint(k))
        jac[k] = np.asarray(jax.jacobian(lambda obs, m=method: m.analyse(xb, obs))(y))
    np.testing.assert_allclose(jac[1], 0.0, atol=1e-12)
    np.testing.assert_allclose(jac[2], K, atol=1e-7)


@pytest.mark.parametrize("forward_adjoint", [None, dfx.DirectAdjoint()], ids=["scan", "Direct"])
def test_strong_fourdvar_sensitivity_is_the_window_gain(getkey, forward_adjoint):
    """Linear model over a window: d x0_a / d y = B G^T (G B G^T + R)^{-1}, G stacking H M^t."""
    n, T = 4, 4
    B = random_spd(getkey(), n, cond=5.0)
    model = LinearTendency(L=0.1 * jr.normal(getkey(), (n, n)), dt=0.5)
    A = model.matrix()
    H = jnp.eye(n)[:2]
    R = 0.3 * np.eye(2)
    G = np.concatenate([np.asarray(H @ jnp.linalg.matrix_power(A, t)) for t in range(T)])
    xb, y = jr.normal(getkey(), (n,)), jr.normal(getkey(), (T, 2))
    K = dense_blue(xb, np.asarray(y).reshape(-1), G, B, np.kron(np.eye(T), R), np.ones(2 * T, bool))[2]
    method = vdx.StrongFourDVar(model, vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R),
                                minimiser=MINIMISERS["BFGS"], forward_adjoint=forward_adjoint)
    dy = jax.jacobian(lambda obs: method.solve(xb, obs).initial_state)(y)
    np.testing.assert_allclose(np.asarray(dy).reshape(n, -1), K, atol=1e-7)


def test_weak_fourdvar_sensitivity_is_the_gain(getkey):
    B, R, H, xb, y = linear_problem(getkey)
    K, _ = blue_jacobians(B, R, H, xb, y)
    for cvt in (False, True):
        method = vdx.WeakFourDVar(Persistence(), vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R),
                                  model_err_cov=vdx.diagonal_covariance(jnp.full(6, 0.1)),
                                  minimiser=MINIMISERS["BFGS"], cvt=cvt)
        dy = jax.jacobian(lambda obs, m=method: m.analyse(xb, obs[None]))(y)
        np.testing.assert_allclose(np.asarray(dy), K, atol=1e-7)


@pytest.mark.usefixtures("library_messages")
def test_minimiser_adjoint_must_be_an_optimistix_adjoint(getkey):
    B, R, H, _, _ = linear_problem(getkey)
    args = (vdx.LinearObs(H), vdx.dense_covariance(B), vdx.dense_covariance(R))
    with pytest.raises(TypeError, match="minimiser_adjoint of type RecursiveCheckpointAdjoint"):
        vdx.ThreeDVar(*args, minimiser_adjoint=dfx.RecursiveCheckpointAdjoint())
    with pytest.raises(TypeError, match="minimiser_adjoint of type str"):
        vdx.StrongFourDVar(Persistence(), *args, minimiser_adjoint="implicit")
    with pytest.raises(TypeError, match="minimiser_adjoint"):
        vdx.WeakFourDVar(Persistence(), *args, model_err_cov=vdx.diagonal_covariance(jnp.ones(6)),
                         minimiser_adjoint=None)


def test_analysis_step_keeps_minimiser_adjoint(getkey):
    """The AnalysisStep form is differentiable too, with the H and R it is handed."""
    B, R, H, xb, y = linear_problem(getkey)
    K, _ = blue_jacobians(B, R, H, xb, y)
    placeholder = (vdx.MaskedIdentity(), vdx.dense_covariance(B), vdx.diagonal_covariance(jnp.ones(6)))
    step = vdx.StrongFourDVar(Persistence(), *placeholder, minimiser=MINIMISERS["BFGS"]).as_analysis_step()
    dy = jax.jacobian(lambda obs: step(xb, obs, obs_op=vdx.LinearObs(H), obs_err_cov=vdx.dense_covariance(R)))(y)
    np.testing.assert_allclose(np.asarray(dy), K, atol=1e-7)
