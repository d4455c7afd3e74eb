"""Bad input fails early with a message naming the argument, expected and received."""

import equinox as eqx
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

import vardax_tutorials as vdx


class Cube(eqx.Module):
    """A nonlinear observation operator, H(x) = x**3."""

    def __call__(self, state, mask=None):
        return vdx.obs.apply_mask(state**3, mask)

    def linearize(self, state):
        return lx.DiagonalLinearOperator(3 * state**2)


def make_oi(n=4, m=4):
    return vdx.OptimalInterpolation(
        vdx.LinearObs(jnp.eye(m, n)), vdx.diagonal_covariance(jnp.ones(n)), vdx.diagonal_covariance(jnp.ones(m))
    )


def test_obs_of_wrong_shape():
    with pytest.raises(ValueError, match=r"obs of shape \(5,\), expected \(4,\)"):
        make_oi().analyse(jnp.zeros(4), jnp.zeros(5))


def test_background_of_wrong_shape():
    with pytest.raises(ValueError, match=r"background of shape \(3,\), expected \(4,\)"):
        make_oi().analyse(jnp.zeros(3), jnp.zeros(4))


def test_mask_of_wrong_shape():
    with pytest.raises(ValueError, match=r"mask of shape \(3,\), expected \(4,\)"):
        make_oi().analyse(jnp.zeros(4), jnp.zeros(4), mask=jnp.ones(3, bool))


def test_obs_operator_and_obs_cov_disagree():
    oi = vdx.OptimalInterpolation(
        vdx.LinearObs(jnp.ones((3, 4))), vdx.diagonal_covariance(jnp.ones(4)), vdx.diagonal_covariance(jnp.ones(4))
    )
    with pytest.raises(ValueError, match=r"obs_op maps the state to shape \(3,\)"):
        oi.analyse(jnp.zeros(4), jnp.zeros(4))


def test_nan_where_mask_says_observed():
    obs = jnp.array([1.0, jnp.nan, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"non-finite obs at index \(1,\) where mask marks it observed"):
        make_oi().analyse(jnp.zeros(4), obs, mask=jnp.ones(4, bool))


def test_batch_nan_where_observed_and_shapes():
    x = jnp.zeros((1, 2, 3)).at[0, 1, 2].set(jnp.nan)
    with pytest.raises(ValueError, match=r"non-finite obs at index \(0, 1, 2\)"):
        vdx.Batch1D(x, jnp.ones((1, 2, 3), bool))
    with pytest.raises(ValueError, match=r"mask of shape \(1, 2\), expected \(1, 2, 3\)"):
        vdx.Batch1D(jnp.zeros((1, 2, 3)), jnp.ones((1, 2), bool))
    with pytest.raises(ValueError, match=r"input of shape \(2, 3\), expected a 3-D array"):
        vdx.Batch1D(jnp.zeros((2, 3)), jnp.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"target of shape \(1, 2, 4\), expected \(1, 2, 3\)"):
        vdx.Batch1D(jnp.zeros((1, 2, 3)), jnp.ones((1, 2, 3), bool), jnp.zeros((1, 2, 4)))


@pytest.mark.parametrize("bad", [0.0, -1.0, jnp.nan])
def test_non_positive_variance(bad):
    with pytest.raises(ValueError, match=r"variances\[2\] = .*expected every variance to be finite and > 0"):
        vdx.diagonal_covariance(jnp.array([1.0, 1.0, bad]))


def test_non_psd_and_non_symmetric_dense():
    with pytest.raises(ValueError, match="not positive semidefinite: smallest eigenvalue"):
        vdx.dense_covariance(jnp.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="non-symmetric matrix"):
        vdx.dense_covariance(jnp.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"matrix of shape \(2, 3\), expected a square"):
        vdx.dense_covariance(jnp.ones((2, 3)))


def test_untagged_or_raw_covariance_is_refused():
    untagged = lx.MatrixLinearOperator(jnp.eye(4))
    with pytest.raises(TypeError, match="prior_cov = MatrixLinearOperator without the positive-semidefinite tag"):
        vdx.OptimalInterpolation(vdx.MaskedIdentity(), untagged, vdx.diagonal_covariance(jnp.ones(4)))
    with pytest.raises(TypeError, match="obs_cov of type ndarray, expected a lineax operator"):
        vdx.OptimalInterpolation(vdx.MaskedIdentity(), vdx.diagonal_covariance(jnp.ones(4)), np.eye(4))


def test_nonlinear_obs_operator_is_refused():
    assert isinstance(Cube(), vdx.ObservationOperator)
    with pytest.raises(TypeError, match="obs_op = Cube, which is not linear.*ThreeDVar"):
        vdx.OptimalInterpolation(Cube(), vdx.diagonal_covariance(jnp.ones(3)), vdx.diagonal_covariance(jnp.ones(3)))
    step = make_oi(3, 3).as_analysis_step()
    with pytest.raises(TypeError, match="not linear"):
        step(jnp.zeros(3), jnp.zeros(3), obs_op=Cube(), obs_err_cov=vdx.diagonal_covariance(jnp.ones(3)))


def test_not_an_obs_operator():
    with pytest.raises(TypeError, match="obs_op of type ndarray, expected an ObservationOperator"):
        vdx.OptimalInterpolation(np.eye(3), vdx.diagonal_covariance(jnp.ones(3)), vdx.diagonal_covariance(jnp.ones(3)))


def test_batch_call_needs_batch():
    with pytest.raises(TypeError, match="expected a Batch1D"):
        make_oi()(jnp.zeros((1, 1, 4)))


def test_linear_obs_bad_matrix_and_state():
    with pytest.raises(ValueError, match=r"H of shape \(3,\), expected an \(m, n\) matrix"):
        vdx.LinearObs(jnp.ones(3))
    with pytest.raises(ValueError, match=r"state of shape \(5,\), expected \(4,\)"):
        vdx.LinearObs(jnp.ones((2, 4)))(jnp.ones(5))
    with pytest.raises(ValueError, match=r"mask of shape \(3,\), expected \(2,\)"):
        vdx.LinearObs(jnp.ones((2, 4)))(jnp.ones(4), mask=jnp.ones(3, bool))


def test_matern_bad_parameters():
    with pytest.raises(ValueError, match=r"nu=1.0, expected one of \(0.5, 1.5, 2.5\)"):
        vdx.matern_covariance(jnp.arange(4.0), nu=1.0)
    with pytest.raises(ValueError, match=r"length_scale=-1.0, expected a finite value > 0"):
        vdx.matern_covariance(jnp.arange(4.0), length_scale=-1.0)
    with pytest.raises(ValueError, match=r"variance=0.0, expected a finite value > 0"):
        vdx.matern_covariance(jnp.arange(4.0), variance=0.0)


def test_model_and_rollout_errors():
    with pytest.raises(ValueError, match=r"Lorenz96 got n=3, expected an integer >= 4"):
        vdx.Lorenz96(n=3)
    with pytest.raises(ValueError, match=r"Lorenz63 got dt=-0.01, expected a finite value > 0"):
        vdx.Lorenz63(dt=-0.01)
    with pytest.raises(ValueError, match=r"x0 of shape \(4,\), expected \(3,\)"):
        vdx.rollout(vdx.Lorenz63(), jnp.ones(4), 10)
    with pytest.raises(ValueError, match=r"n_steps=0, expected an integer >= 1"):
        vdx.rollout(vdx.Lorenz63(), jnp.ones(3), 0)
    with pytest.raises(TypeError, match="expected a ForwardModel"):
        vdx.rollout(lambda x: x, jnp.ones(3), 2)


def test_generate_problem_errors(getkey):
    with pytest.raises(ValueError, match=r"n_times=0, expected an integer >= 1"):
        vdx.generate_problem(vdx.Lorenz63(), key=getkey(), n_times=0)
    with pytest.raises(ValueError, match=r"obs_std=0.0, expected a value > 0"):
        vdx.generate_problem(vdx.Lorenz63(), key=getkey(), n_times=3, obs_std=0.0)
    with pytest.raises(ValueError, match=r"obs_fraction=1.5, expected a value in \[0, 1\]"):
        vdx.generate_problem(vdx.Lorenz63(), key=getkey(), n_times=3, obs_fraction=1.5)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 3\), expected \(3, 3\)"):
        vdx.generate_problem(vdx.Lorenz63(), key=getkey(), n_times=3, mask=jnp.ones((2, 3), bool))


def test_metric_shape_mismatch():
    with pytest.raises(ValueError, match=r"estimate of shape \(3,\) and truth of shape \(4,\)"):
        vdx.rmse(jnp.zeros(3), jnp.zeros(4))
