"""AveragingKernel, multi-instrument fusion and the validation helpers."""

import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import pytest

import vardax_tutorials as vdx

from .test_oi import dense_blue


def kernel(getkey, n=9, m=4):
    A = jr.normal(getkey(), (m, n))
    return vdx.AveragingKernel(A, jr.normal(getkey(), (n,)), jnp.linspace(0.1, 0.9, n)), A


def test_averaging_kernel_formula_and_structured_jacobian(getkey):
    ak, A = kernel(getkey)
    x = jr.normal(getkey(), (9,))
    expected = np.asarray(A) @ (np.asarray(ak.h) * np.asarray(x) + (1 - np.asarray(ak.h)) * np.asarray(ak.prior_profile))
    np.testing.assert_allclose(np.asarray(ak(x)), expected, atol=1e-12)
    J = ak.linearize(x)
    assert isinstance(J, lx.ComposedLinearOperator)
    np.testing.assert_allclose(np.asarray(J.as_matrix()), np.asarray(A) * np.asarray(ak.h)[None, :], atol=1e-14)
    assert vdx.jacobian_test(ak, x, key=getkey()) < 1e-12
    assert isinstance(ak, vdx.ObservationOperator)


def test_averaging_kernel_oi_is_exact_blue(getkey):
    ak, A = kernel(getkey, n=6, m=4)
    B, R = np.eye(6) * 2.0, np.eye(4) * 0.3
    xb, y = jr.normal(getkey(), (6,)), jr.normal(getkey(), (4,))
    oi = vdx.OptimalInterpolation(ak, vdx.dense_covariance(B), vdx.dense_covariance(R))
    # affine H: the BLUE with Jacobian A diag(h) and innovation y - H(x_b)
    Hj = np.asarray(A) * np.asarray(ak.h)[None, :]
    y_shift = np.asarray(y) - (np.asarray(ak(xb)) - Hj @ np.asarray(xb))
    expected = dense_blue(xb, y_shift, Hj, B, R, np.ones(4, bool))[0]
    np.testing.assert_allclose(np.asarray(oi.analyse(xb, y)), expected, atol=1e-8)


def fusion(getkey, n=8):
    ak, _ = kernel(getkey, n=n, m=3)
    coarse = vdx.LinearObs(jnp.kron(jnp.eye(n // 2), jnp.array([[0.5, 0.5]])))
    reg = (
        vdx.InstrumentRegistry()
        .register(vdx.InstrumentSpec("point", vdx.MaskedIdentity(), vdx.diagonal_covariance(jnp.full(n, 0.2))))
        .register(vdx.InstrumentSpec("coarse", coarse, vdx.diagonal_covariance(jnp.full(n // 2, 0.05))))
        .register(vdx.InstrumentSpec("retrieval", ak, vdx.dense_covariance(0.1 * jnp.eye(3) + 0.05)))
    )
    return vdx.MultiInstrumentFusion(reg)


def test_multi_instrument_dict_output_and_adjoints(getkey):
    f = fusion(getkey)
    x = jr.normal(getkey(), (8,))
    out = f(x)
    assert list(out) == ["point", "coarse", "retrieval"]
    assert {k: v.shape for k, v in out.items()} == {"point": (8,), "coarse": (4,), "retrieval": (3,)}
    masked = f(x, mask={"point": jnp.arange(8) < 4})
    np.testing.assert_array_equal(np.asarray(masked["point"][4:]), 0.0)
    assert isinstance(f, vdx.ObservationOperator) and isinstance(f.stacked(), vdx.ObservationOperator)
    assert vdx.jacobian_test(f.stacked(), x, key=getkey()) < 1e-12
    np.testing.assert_allclose(np.asarray(f.stack(f.split(f.stacked()(x)))), np.asarray(f.stacked()(x)))


def test_fused_oi_equals_dense_blue_on_stacked_system(getkey):
    f = fusion(getkey)
    st, R = f.stacked(), f.obs_cov()
    assert lx.is_positive_semidefinite(R) and R.in_size() == 15
    xb, truth = jr.normal(getkey(), (8,)), jr.normal(getkey(), (8,))
    y = st(truth) + 0.1 * jr.normal(getkey(), (15,))
    B = np.asarray(vdx.MaternCovariance(jnp.arange(8.0), length_scale=2.0).as_matrix())
    xa = vdx.OptimalInterpolation(st, vdx.dense_covariance(B), R).analyse(xb, y)
    Hj = np.asarray(st.linearize(xb).as_matrix())
    y_shift = np.asarray(y) - (np.asarray(st(xb)) - Hj @ np.asarray(xb))
    expected = dense_blue(xb, y_shift, Hj, B, np.asarray(R.as_matrix()), np.ones(15, bool))[0]
    np.testing.assert_allclose(np.asarray(xa), expected, atol=1e-8)


@pytest.mark.usefixtures("library_messages")
def test_registry_lookup_of_a_missing_name():
    spec = vdx.InstrumentSpec("a", vdx.MaskedIdentity(), vdx.diagonal_covariance(jnp.ones(3)))
    with pytest.raises(ValueError, match="got no instruments"):
        vdx.MultiInstrumentFusion([])
    with pytest.raises(KeyError, match="no instrument named 'z'"):
        vdx.InstrumentRegistry((spec,))["z"]


class Cube(vdx.AbstractObservationOperator):
    def __call__(self, state, mask=None):
        return vdx.obs.apply_mask(state**3, mask)

    def linearize(self, state):
        return lx.DiagonalLinearOperator(3 * state**2)


class WrongCube(Cube):
    def linearize(self, state):
        return lx.DiagonalLinearOperator(2 * state**2)


def test_jacobian_and_taylor_tests_separate_right_from_wrong(getkey):
    x = jr.normal(getkey(), (5,))
    assert vdx.jacobian_test(Cube(), x, key=getkey()) < 1e-12
    assert vdx.jacobian_test(WrongCube(), x, key=getkey()) > 0.1
    slope, rem = vdx.taylor_test(Cube(), x, Cube().linearize(x), key=getkey())
    assert 1.9 < slope < 2.1, (slope, rem)
    slope, _ = vdx.taylor_test(Cube(), x, WrongCube().linearize(x), key=getkey())
    assert 0.9 < slope < 1.1
