"""Structured covariances against the dense computation."""

import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import pytest

import vardax_tutorials as vdx

C = vdx.covariance


def factors():
    return (
        vdx.MaternCovariance(jnp.arange(5.0), length_scale=2.0, nu=1.5),
        vdx.MaternCovariance(jnp.linspace(0, 3, 6), length_scale=0.8, nu=2.5, variance=2.0),
    )


def test_kronecker_matches_dense(getkey):
    A, S = factors()
    K = vdx.KroneckerCovariance(A, S)
    D = np.kron(np.asarray(A.as_matrix()), np.asarray(S.as_matrix()))
    v = jr.normal(getkey(), (30,))
    np.testing.assert_allclose(np.asarray(K.mv(v)), D @ np.asarray(v), atol=1e-12)
    np.testing.assert_allclose(np.asarray(K.as_matrix()), D, atol=1e-14)
    np.testing.assert_allclose(np.asarray(C.solve(K, v)), np.linalg.solve(D, np.asarray(v)), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(float(C.logdet(K)), np.linalg.slogdet(D)[1], rtol=1e-10)
    L = C.sqrt(K)
    assert isinstance(L, vdx.Kronecker) and lx.is_lower_triangular(L)
    Lm = np.asarray(L.as_matrix())
    np.testing.assert_allclose(Lm @ Lm.T, D, atol=1e-10)
    np.testing.assert_allclose(np.asarray(C.whiten(L, v)), np.linalg.solve(Lm, np.asarray(v)), atol=1e-8)
    assert lx.is_positive_semidefinite(K) and lx.is_symmetric(K)
    np.testing.assert_allclose(np.asarray(lx.diagonal(K)), np.diag(D), atol=1e-14)
    cg = lx.linear_solve(K, v, lx.CG(rtol=1e-12, atol=1e-12)).value
    np.testing.assert_allclose(np.asarray(cg), np.linalg.solve(D, np.asarray(v)), atol=1e-8)


@pytest.mark.parametrize(
    "make",
    [
        lambda: vdx.diagonal_covariance(jnp.linspace(0.5, 3.0, 6)),
        lambda: vdx.MaternCovariance(jnp.arange(6.0), length_scale=1.5, nu=0.5),
        lambda: vdx.KroneckerCovariance(vdx.diagonal_covariance(jnp.array([1.0, 2.0])), factors()[0]),
    ],
    ids=["diagonal", "dense", "kronecker"],
)
def test_sqrt_solve_logdet(make, getkey):
    B = make()
    D = np.asarray(B.as_matrix())
    L = np.asarray(C.sqrt(B).as_matrix())
    np.testing.assert_allclose(L @ L.T, D, atol=1e-10)
    assert np.allclose(L, np.tril(L))
    v = jr.normal(getkey(), (D.shape[0],))
    np.testing.assert_allclose(np.asarray(C.solve(B, v)), np.linalg.solve(D, np.asarray(v)), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(float(C.logdet(B)), np.linalg.slogdet(D)[1], rtol=1e-10, atol=1e-12)
    w = C.Whitener.of(B)
    np.testing.assert_allclose(float(jnp.sum(w(v) ** 2)), float(np.asarray(v) @ np.linalg.solve(D, np.asarray(v))), rtol=1e-8)


def test_matern_2d_grid_matches_kernel():
    y, x = jnp.linspace(0, 1, 4), jnp.linspace(0, 2, 5)
    pts = vdx.grid_points(y, x)
    assert pts.shape == (20, 2)
    np.testing.assert_allclose(np.asarray(pts[6]), [float(y[1]), float(x[1])])
    B = np.asarray(vdx.MaternCovariance(pts, variance=1.5, length_scale=0.7, nu=2.5).as_matrix())
    P = np.asarray(pts)
    r = np.sqrt(((P[:, None, :] - P[None, :, :]) ** 2).sum(-1)) / 0.7
    np.testing.assert_allclose(B, 1.5 * (1 + np.sqrt(5) * r + 5 * r**2 / 3) * np.exp(-np.sqrt(5) * r), rtol=1e-12)
    assert np.linalg.eigvalsh(B).min() > 0


@pytest.mark.usefixtures("library_messages")
def test_kronecker_errors():
    with pytest.raises(TypeError, match="left = MatrixLinearOperator without the positive-semidefinite tag"):
        vdx.KroneckerCovariance(lx.MatrixLinearOperator(jnp.eye(2)), vdx.diagonal_covariance(jnp.ones(2)))
    with pytest.raises(ValueError, match="non-square right"):
        vdx.Kronecker(lx.MatrixLinearOperator(jnp.eye(2)), lx.MatrixLinearOperator(jnp.ones((2, 3))))
    with pytest.raises(ValueError, match="the covariance is not positive definite"):
        C.sqrt(vdx.dense_covariance(jnp.ones((3, 3))))
    with pytest.raises(ValueError, match=r"period=-1.0, expected a finite value > 0"):
        vdx.MaternCovariance(jnp.arange(3.0), period=-1.0)
