"""Observation operators and covariances: adjoints, structure, protocol conformance."""

import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import pytest

import vardax_tutorials as vdx


def operators(getkey):
    n, m = 7, 4
    dense = jr.normal(getkey(), (m, n))
    return [
        ("masked_identity", vdx.MaskedIdentity(), n, None),
        ("masked_identity_mask", vdx.MaskedIdentity(), n, jnp.arange(n) % 2 == 0),
        ("linear_dense", vdx.LinearObs(dense), n, None),
        ("linear_dense_mask", vdx.LinearObs(dense), n, jnp.array([True, False, True, True])),
        ("linear_diagonal", vdx.LinearObs(lx.DiagonalLinearOperator(jr.normal(getkey(), (n,)))), n, None),
    ]


def test_obs_operators_conform_and_linearize_to_themselves(getkey):
    """Conformance and J = H for linear operators (dot-product tests: test_adjoint_transposes.py)."""
    for name, op, n, mask in operators(getkey):
        assert isinstance(op, vdx.ObservationOperator), name
        assert vdx.obs.is_linear(op)
        x = jr.normal(getkey(), (n,))
        J = op.linearize(x) if mask is None else op.linearize(x, mask=mask)
        assert isinstance(J, lx.AbstractLinearOperator)
        # the linearisation is the Jacobian of the (masked) operator
        v = jr.normal(getkey(), (n,))
        np.testing.assert_allclose(np.asarray(J.mv(v)), np.asarray(op(v, mask=mask)), atol=1e-12)


def test_masked_output_is_zero_where_unobserved():
    x = jnp.arange(1.0, 6.0)
    mask = jnp.array([True, False, True, False, True])
    np.testing.assert_array_equal(np.asarray(vdx.MaskedIdentity()(x, mask)), [1.0, 0.0, 3.0, 0.0, 5.0])


def test_dot_product_test_checks_a_hand_written_transpose_method(getkey):
    """With no `transpose` argument the test exercises the operator's own `transpose()`."""

    class Broken(lx.MatrixLinearOperator):
        def transpose(self):
            return lx.MatrixLinearOperator(self.matrix)

    A = jr.normal(getkey(), (5, 5))
    assert vdx.dot_product_test(Broken(A), key=getkey()) > 1e-2


def test_covariances_are_psd_tagged_and_structured(getkey):
    d = vdx.diagonal_covariance(jnp.array([1.0, 2.0, 3.0]))
    assert lx.is_positive_semidefinite(d) and lx.is_symmetric(d) and lx.is_diagonal(d)
    np.testing.assert_allclose(np.asarray(lx.linear_solve(d, jnp.ones(3)).value), [1.0, 0.5, 1 / 3])
    np.testing.assert_allclose(
        np.asarray(lx.linear_solve(d, jnp.ones(3), lx.CG(rtol=1e-12, atol=1e-12)).value), [1.0, 0.5, 1 / 3]
    )
    a = jr.normal(getkey(), (4, 4))
    dense = vdx.dense_covariance(a @ a.T + jnp.eye(4))
    assert lx.is_positive_semidefinite(dense) and lx.is_symmetric(dense)


@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5])
def test_matern_matches_formula(nu):
    x = jnp.linspace(0.0, 5.0, 9)
    B = vdx.matern_covariance(x, variance=2.0, length_scale=1.5, nu=nu).as_matrix()
    r = np.abs(np.asarray(x)[:, None] - np.asarray(x)[None, :]) / 1.5
    k = {
        0.5: np.exp(-r),
        1.5: (1 + np.sqrt(3) * r) * np.exp(-np.sqrt(3) * r),
        2.5: (1 + np.sqrt(5) * r + 5 * r**2 / 3) * np.exp(-np.sqrt(5) * r),
    }[nu]
    np.testing.assert_allclose(np.asarray(B), 2.0 * k, rtol=1e-12)
    assert np.linalg.eigvalsh(np.asarray(B)).min() > 0


def test_periodic_matern_is_psd_and_circulant():
    B = np.asarray(vdx.matern_covariance(jnp.arange(16.0), length_scale=3.0, nu=2.5, period=16.0).as_matrix())
    assert np.linalg.eigvalsh(B).min() > -1e-12
    np.testing.assert_allclose(B[0], np.roll(B[3], -3), atol=1e-12)
