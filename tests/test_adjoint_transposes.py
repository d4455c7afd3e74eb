"""Dot-product tests against transposes written independently of the operator under test.

A dot-product test only checks something when the transpose comes from
somewhere else: here from NumPy matrices, from hand-derived adjoint models
(Lorenz-63 and Lorenz-96 RK4 steps), or, for models integrated by diffrax,
from the forward-mode Jacobian (JVP rules) against reverse mode (transpose
rules and diffrax's own adjoint). Each test also shows that a wrong transpose
fails by many orders of magnitude, so the test can fail.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import pytest

import vardax_tutorials as vdx

TOL = 1e-13  # float64: a few ulps, relative to |Au||v|


def test_a_wrong_transpose_fails(getkey):
    A = np.asarray(jr.normal(getkey(), (5, 4)))
    op = lx.MatrixLinearOperator(jnp.asarray(A))
    assert vdx.dot_product_test(op, lambda v: A.T @ np.asarray(v), key=getkey()) < TOL
    assert vdx.dot_product_test(op, lambda v: A[:4, :].T @ np.asarray(v)[:4] * 2, key=getkey()) > 1e-2


def test_observation_operators_against_numpy_transposes(getkey):
    n, m = 7, 4
    A = np.asarray(jr.normal(getkey(), (m, n)))
    d = np.asarray(jr.normal(getkey(), (n,)))
    mask_n = np.arange(n) % 2 == 0
    mask_m = np.array([True, False, True, True])
    x = jr.normal(getkey(), (n,))
    cases = [
        (vdx.MaskedIdentity().linearize(x), lambda v: np.asarray(v)),
        (vdx.MaskedIdentity().linearize(x, mask=mask_n), lambda v: mask_n * np.asarray(v)),
        (vdx.LinearObs(A).linearize(x), lambda v: A.T @ np.asarray(v)),
        (vdx.LinearObs(A).linearize(x, mask=mask_m), lambda v: A.T @ (mask_m * np.asarray(v))),
        (vdx.LinearObs(lx.DiagonalLinearOperator(jnp.asarray(d))).linearize(x), lambda v: d * np.asarray(v)),
    ]
    for op, transpose in cases:
        assert vdx.dot_product_test(op, transpose, key=getkey()) < TOL
        assert vdx.dot_product_test(op, lambda v, t=transpose: 1.01 * t(v), key=getkey()) > 1e-3


def test_averaging_kernel_and_fusion_against_numpy_transposes(getkey):
    n = 8
    A = np.asarray(jr.normal(getkey(), (3, n)))
    h = np.linspace(0.1, 0.9, n)
    ak = vdx.AveragingKernel(A, jr.normal(getkey(), (n,)), h)
    x = jr.normal(getkey(), (n,))
    assert vdx.dot_product_test(ak.linearize(x), lambda v: h * (A.T @ np.asarray(v)), key=getkey()) < TOL
    assert vdx.dot_product_test(ak.linearize(x), lambda v: A.T @ np.asarray(v), key=getkey()) > 1e-3
    P = np.kron(np.eye(n // 2), np.array([[0.5, 0.5]]))
    fusion = vdx.MultiInstrumentFusion([
        vdx.InstrumentSpec("sounder", ak, vdx.diagonal_covariance(jnp.ones(3))),
        vdx.InstrumentSpec("coarse", vdx.LinearObs(P), vdx.diagonal_covariance(jnp.ones(n // 2))),
    ])

    def fusion_transpose(v):
        return h * (A.T @ np.asarray(v["sounder"])) + P.T @ np.asarray(v["coarse"])

    assert vdx.dot_product_test(fusion.linearize(x), fusion_transpose, key=getkey()) < TOL
    stacked = fusion.stacked().linearize(x)
    assert vdx.dot_product_test(
        stacked, lambda v: h * (A.T @ np.asarray(v[:3])) + P.T @ np.asarray(v[3:]), key=getkey()
    ) < TOL


def test_kronecker_with_non_symmetric_factors(getkey):
    """With non-symmetric factors a transpose that forgets to transpose a factor is caught."""
    Am = np.asarray(jr.normal(getkey(), (3, 3)))
    Cm = np.asarray(jr.normal(getkey(), (4, 4)))
    K = vdx.Kronecker(lx.MatrixLinearOperator(jnp.asarray(Am)), lx.MatrixLinearOperator(jnp.asarray(Cm)))
    dense = np.kron(Am, Cm)
    assert vdx.dot_product_test(K, lambda v: dense.T @ np.asarray(v), key=getkey()) < TOL
    # the operator's own transpose method against the dense reference
    assert vdx.dot_product_test(K, key=getkey()) < TOL
    np.testing.assert_allclose(np.asarray(K.T.as_matrix()), dense.T, atol=1e-14)
    assert vdx.dot_product_test(K, lambda v: np.kron(Am, Cm.T).T @ np.asarray(v), key=getkey()) > 1e-2
    # the lower-triangular square root of a Kronecker covariance
    B1 = vdx.matern_covariance(jnp.arange(3.0), length_scale=1.5)
    B2 = vdx.matern_covariance(jnp.arange(4.0), length_scale=2.0, nu=2.5)
    L = vdx.sqrt(vdx.KroneckerCovariance(B1, B2))
    L_dense = np.kron(np.linalg.cholesky(np.asarray(B1.as_matrix())), np.linalg.cholesky(np.asarray(B2.as_matrix())))
    assert vdx.dot_product_test(L, lambda v: L_dense.T @ np.asarray(v), key=getkey()) < TOL
    assert vdx.dot_product_test(L, lambda v: L_dense @ np.asarray(v), key=getkey()) > 1e-3


def _rk4_adjoint(df_T, x, lam, h, tendency):
    """Hand-written adjoint of one classical RK4 step of dx/dt = f(x), given v -> Df(x)^T v."""
    k1 = tendency(x)
    x2 = x + 0.5 * h * k1
    k2 = tendency(x2)
    x3 = x + 0.5 * h * k2
    k3 = tendency(x3)
    x4 = x + h * k3
    lam_x = lam
    lam_k1, lam_k2, lam_k3, lam_k4 = h / 6 * lam, h / 3 * lam, h / 3 * lam, h / 6 * lam
    a4 = df_T(x4, lam_k4)
    lam_x, lam_k3 = lam_x + a4, lam_k3 + h * a4
    a3 = df_T(x3, lam_k3)
    lam_x, lam_k2 = lam_x + a3, lam_k2 + 0.5 * h * a3
    a2 = df_T(x2, lam_k2)
    lam_x, lam_k1 = lam_x + a2, lam_k1 + 0.5 * h * a2
    return lam_x + df_T(x, lam_k1)


def _l96_tendency_adjoint(x, lam):
    """(Df(x))^T lam for f_i = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F, derived by hand."""
    c = np.roll(x, 1)  # x_{i-1}
    e = np.roll(x, -1) - np.roll(x, 2)  # x_{i+1} - x_{i-2}
    return np.roll(c * lam, 1) - np.roll(c * lam, -2) + np.roll(e * lam, -1) - lam


def _l63_tendency_adjoint(model):
    s, r, b = (float(model.sigma), float(model.rho), float(model.beta))

    def df_T(x, lam):
        J = np.array([[-s, s, 0.0], [r - x[2], -1.0, -x[0]], [x[1], x[0], -b]])
        return J.T @ lam

    return df_T


@pytest.mark.parametrize("name", ["lorenz63", "lorenz96"])
def test_rk4_step_against_a_hand_written_adjoint(getkey, name):
    if name == "lorenz63":
        model = vdx.Lorenz63()
        df_T = _l63_tendency_adjoint(model)
        x = np.array([1.0, 2.0, 20.0]) + np.asarray(jr.normal(getkey(), (3,)))
    else:
        model = vdx.Lorenz96(n=10)
        df_T = _l96_tendency_adjoint
        x = 8.0 + np.asarray(jr.normal(getkey(), (10,)))
    h = float(model.dt)
    tendency = lambda z: np.asarray(model.tendency(jnp.asarray(z)))  # noqa: E731
    _, tangent = jax.linearize(model.step, jnp.asarray(x))
    op = lx.FunctionLinearOperator(tangent, jax.ShapeDtypeStruct(x.shape, jnp.float64))
    adjoint = lambda lam: _rk4_adjoint(df_T, x, np.asarray(lam), h, tendency)  # noqa: E731
    assert vdx.dot_product_test(op, adjoint, key=getkey()) < TOL
    # a classic slip: using Df(x) at the start point for every stage
    frozen = lambda lam: _rk4_adjoint(lambda _, v: df_T(x, v), x, np.asarray(lam), h, tendency)  # noqa: E731
    assert vdx.dot_product_test(op, frozen, key=getkey()) > 1e-6


@pytest.mark.parametrize("name", ["two_level", "advection_diffusion"])
def test_diffrax_and_coupled_steps_reverse_against_forward_mode(getkey, name):
    """Reverse mode (JAX's transpose rules, diffrax's adjoint) against the forward-mode Jacobian."""
    model = vdx.Lorenz96TwoLevel(K=4, J=4) if name == "two_level" else vdx.AdvectionDiffusion(n=16)
    x = jr.normal(getkey(), (model.state_size,))
    J = np.asarray(jax.jacfwd(model.step)(x))
    _, vjp = jax.vjp(model.step, x)
    op = lx.MatrixLinearOperator(jnp.asarray(J))
    assert vdx.dot_product_test(op, lambda v: vjp(jnp.asarray(v))[0], key=getkey()) < 1e-12
