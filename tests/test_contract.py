"""One contract for every method: base class, solution shape, time contract, `throw`, dtypes, integers."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optimistix as optx
import pytest

import vardax_tutorials as vdx

N = 6


class Shift(eqx.Module):
    """x_{t+1} = roll(x_t, 1): a linear model whose states at different times are clearly different."""

    dt: float = 1.0

    @property
    def state_signature(self):
        return jax.ShapeDtypeStruct((N,), jnp.zeros(()).dtype)

    def step(self, state, dt=None):
        return jnp.roll(state, 1)


H = vdx.MaskedIdentity()
B = vdx.diagonal_covariance(jnp.ones(N))
R = vdx.diagonal_covariance(jnp.full(N, 1e-6))
Q = vdx.diagonal_covariance(jnp.full(N, 1e-4))


def all_methods(forward=Shift()):
    return {
        "OptimalInterpolation": vdx.OptimalInterpolation(H, B, R),
        "ThreeDVar": vdx.ThreeDVar(H, B, R),
        "StrongFourDVar": vdx.StrongFourDVar(forward, H, B, R),
        "WeakFourDVar": vdx.WeakFourDVar(forward, H, B, R, Q),
        "IncrementalFourDVar": vdx.IncrementalFourDVar(forward, H, B, R),
    }


def test_every_method_is_a_final_subclass_of_the_base():
    for name, method in all_methods().items():
        cls = type(method)
        assert isinstance(method, vdx.AbstractAnalysisMethod), name
        assert cls.__subclasses__() == [], f"{name} is subclassed: methods are final"
        for attr in ("obs_op", "prior_cov", "obs_cov", "throw", "solve", "analyse", "as_analysis_step"):
            assert hasattr(method, attr), (name, attr)
        assert method.state_size == N and method.obs_size == N
        assert isinstance(method.as_analysis_step(), vdx.AnalysisStep)


def test_the_base_class_checks_the_shared_fields(library_messages):
    for cls, extra in ((vdx.ThreeDVar, ()), (vdx.StrongFourDVar, (Shift(),))):
        args = (*extra, H, B, np.eye(N))
        with pytest.raises(TypeError, match=rf"{cls.__name__} got obs_cov of type ndarray"):
            cls(*args)


def test_solutions_share_one_shape(getkey):
    truth = jr.normal(getkey(), (N,))
    window = jnp.stack([truth, jnp.roll(truth, 1)])
    for name, method in all_methods().items():
        obs = window if method.windowed else truth
        sol = method.solve(truth + 0.1, obs)
        assert isinstance(sol, vdx.AbstractSolution), name
        assert sol.analysis.shape == (N,) and sol.converged.dtype == jnp.bool_ and bool(sol.converged), name
        assert jnp.issubdtype(sol.num_steps.dtype, jnp.integer), name
        assert float(sol.cost) == pytest.approx(float(sol.prior_cost + sol.obs_cost + getattr(sol, "model_error_cost", 0.0)))
        np.testing.assert_array_equal(np.asarray(sol.analysis), np.asarray(method.analyse(truth + 0.1, obs)))
        if method.windowed:
            assert isinstance(sol, vdx.WindowSolution)
            np.testing.assert_array_equal(np.asarray(sol.analysis), np.asarray(sol.trajectory[-1]))


@pytest.mark.parametrize("name", list(all_methods()))
def test_time_contract(getkey, name):
    """Forecast valid at obs row 0, analysis valid at the last row; one row = the same time."""
    method = all_methods()[name]
    step = method.as_analysis_step()
    truth0 = 3.0 * jr.normal(getkey(), (N,))
    truth = jnp.stack([jnp.roll(truth0, t) for t in range(4)])
    forecast = truth0 + 0.3 * jr.normal(getkey(), (N,))
    obs = truth + 1e-3 * jr.normal(getkey(), truth.shape)
    # one observation vector: the analysis is at the forecast's time
    one = step(forecast, obs[0], obs_op=H, obs_err_cov=R)
    np.testing.assert_allclose(np.asarray(one), np.asarray(truth[0]), atol=1e-2)
    if method.windowed:
        last = step(forecast, obs, obs_op=H, obs_err_cov=R)
        np.testing.assert_allclose(np.asarray(last), np.asarray(truth[-1]), atol=1e-2)
        assert float(jnp.max(jnp.abs(last - truth[0]))) > 1.0  # not the time of row 0


def test_analysis_step_uses_the_operators_it_is_handed(getkey):
    x = jr.normal(getkey(), (N,))
    R_big = vdx.diagonal_covariance(jnp.full(N, 1e6))
    for name, method in all_methods().items():
        step = method.as_analysis_step()
        out = step(x, jnp.zeros(N), obs_op=H, obs_err_cov=R_big)  # R huge: the observations barely count
        np.testing.assert_allclose(np.asarray(out), np.asarray(x), atol=1e-4, err_msg=name)


@pytest.mark.parametrize("name", list(all_methods()))
def test_throw_false_returns_an_unconverged_solution(getkey, name, library_messages):
    model = vdx.Lorenz96(n=N)
    method = all_methods(forward=model)[name]
    if name in ("ThreeDVar", "StrongFourDVar", "WeakFourDVar"):
        method = dataclasses.replace(method, max_steps=1)
    if name == "IncrementalFourDVar":
        method = dataclasses.replace(method, config=vdx.IncrementalConfig(n_outer=1))
    if name == "OptimalInterpolation":  # S = HBH^T + R singular: the solve fails
        zero = vdx.dense_covariance(jnp.zeros((N, N)), check=False)
        method = vdx.OptimalInterpolation(H, zero, zero)
    p = vdx.generate_problem(model, key=getkey(), n_times=5, obs_std=0.5, background_std=2.0, spin_up=100)
    obs = p.obs if method.windowed else p.obs[0]
    with pytest.raises((RuntimeError, FloatingPointError), match=rf"{name}: "):
        method.solve(p.background, obs)
    sol = dataclasses.replace(method, throw=False).solve(p.background, obs)
    assert not bool(sol.converged)


def test_outputs_follow_the_input_dtype(getkey):
    truth = np.asarray(jr.normal(getkey(), (N,)), np.float32)
    window = np.stack([truth, np.roll(truth, 1)])
    for x64 in (True, False):
        with jax.enable_x64(x64):
            methods = all_methods()  # covariances built under this flag
            for name, method in methods.items():
                obs = window if method.windowed else truth
                sol = method.solve(truth + np.float32(0.1), obs)
                leaves = [x for x in jax.tree_util.tree_leaves(sol) if jnp.issubdtype(x.dtype, jnp.floating)]
                assert all(x.dtype == jnp.float32 for x in leaves), (name, x64, [x.dtype for x in leaves])
    # float64 covariances with float32 inputs: cast to the inputs' precision
    with jax.enable_x64(True):
        B64 = vdx.dense_covariance(np.eye(N))
        sol = vdx.ThreeDVar(H, B64, R).solve(np.float32(truth), np.float32(truth))
        assert sol.analysis.dtype == jnp.float32


def test_numpy_inputs_reach_jax_without_a_compiled_program():
    """`to_array` gives what `jnp.asarray` gives (values, canonical dtype) without compiling anything."""
    from vardax_tutorials._checks import to_array

    for x64 in (True, False):
        with jax.enable_x64(x64):
            cases = [(np.linspace(0.0, 1.0, 37), None), (np.arange(41), None), (np.float32([1.5, 2.0, 4.0]), None),
                     (np.array([0.0, np.nan, 2.0, 5.0]), bool), (np.float64(3.25), None), ([1.0, 2.0], None)]
            for x, dtype in cases:
                with vdx.count_compiles() as compiles:
                    got = to_array(x, dtype)
                if isinstance(x, np.ndarray | np.generic):
                    assert compiles.count == 0, (x, dtype)
                expected = jnp.asarray(x, dtype)
                assert got.dtype == expected.dtype and got.shape == expected.shape
                np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    # the counter sees the program eager jnp.asarray compiles for a new shape, the one to_array avoids
    with vdx.count_compiles() as compiles:
        jnp.asarray(np.zeros((29, 31)))
    assert compiles.count >= 1


def test_numpy_integers_are_accepted_and_positional_order_is_the_documented_one():
    model = vdx.Lorenz96(np.int64(10), 8.5)
    assert model.n == 10 and float(model.F) == 8.5 and float(model.dt) == 0.05
    x0 = jnp.ones(10).at[0].set(1.1)
    assert vdx.rollout(model, x0, np.int64(3)).shape == (3, 10)
    assert vdx.window(model, x0, np.int32(4)).shape == (4, 10)
    assert vdx.ThreeDVar(H, B, R, max_steps=np.int64(7)).max_steps == 7
    assert vdx.IncrementalConfig(n_outer=np.int64(2)).n_outer == 2
    assert vdx.KStepAdjoint(np.int64(3)).k == 3
    p = vdx.generate_problem(model, key=jr.key(0), n_times=np.int64(3), obs_every=np.int16(2), spin_up=np.int64(5))
    assert p.truth.shape == (3, 10)


def test_kstep_adjoint_serves_fixed_step_minimisers_only(library_messages):
    gn = optx.GaussNewton(rtol=1e-8, atol=1e-8)
    vdx.ThreeDVar(H, B, R, minimiser=gn, minimiser_adjoint=vdx.KStepAdjoint(2))  # accepted
    vdx.ThreeDVar(H, B, R, minimiser=optx.GradientDescent(1e-2, 1e-6, 1e-6), minimiser_adjoint=vdx.OneStepAdjoint())
    for solver in (None, optx.BFGS(1e-6, 1e-6), optx.NonlinearCG(1e-6, 1e-6), optx.LevenbergMarquardt(1e-6, 1e-6)):
        with pytest.raises(TypeError, match="cannot differentiate"):
            vdx.ThreeDVar(H, B, R, minimiser=solver, minimiser_adjoint=vdx.KStepAdjoint(2))
    # used directly with optimistix, the refusal comes when the solve is differentiated
    f = lambda y, th: jnp.sum((y - th) ** 2)  # noqa: E731
    with pytest.raises(TypeError, match="KStepAdjoint cannot differentiate BFGS"):
        optx.minimise(f, optx.BFGS(1e-6, 1e-6), jnp.zeros(2), jnp.ones(2), adjoint=vdx.KStepAdjoint(2))


def test_metrics_compile_nothing_on_concrete_inputs_and_agree_under_jit_and_vmap():
    """`vdx.rmse`/`vdx.bias` on concrete arrays (NumPy or JAX) compile no program, give the
    formula's value (checked against `math.fsum` over the entries) and agree with their traced
    selves under `jax.jit` and `jax.vmap`; the dtype is `jnp.mean`'s."""
    import math

    rng = np.random.default_rng(3)
    est, tru = rng.normal(size=(6, 9)), rng.normal(size=(6, 9))
    rows = [(e, t) for e, t in zip(est, tru)]
    rmse_rows = [math.sqrt(math.fsum((a - b) ** 2 for a, b in zip(e, t)) / 9) for e, t in rows]
    bias_rows = [math.fsum(a - b for a, b in zip(e, t)) / 9 for e, t in rows]
    for inputs in ((est, tru), (jnp.asarray(est), jnp.asarray(tru))):
        with vdx.count_compiles() as compiles:
            r, b = vdx.rmse(*inputs, axis=-1), vdx.bias(*inputs, axis=-1)
            r_all = vdx.rmse(*inputs)
        assert compiles.count == 0
        assert isinstance(r, jax.Array) and r.dtype == jnp.float64 and r.shape == (6,)
        np.testing.assert_allclose(np.asarray(r), rmse_rows, rtol=1e-14)
        np.testing.assert_allclose(np.asarray(b), bias_rows, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(float(r_all), math.sqrt(sum(x**2 for x in rmse_rows) / 6), rtol=1e-14)
    traced = jax.jit(vdx.rmse, static_argnames="axis")(jnp.asarray(est), jnp.asarray(tru), axis=-1)
    np.testing.assert_allclose(np.asarray(traced), rmse_rows, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(jax.vmap(vdx.bias)(jnp.asarray(est), jnp.asarray(tru))), bias_rows,
                               rtol=1e-12, atol=1e-15)
    # integers score as floats, float32 stays float32
    assert vdx.rmse(np.arange(4), np.zeros(4, int)).dtype == jnp.float64
    assert float(vdx.rmse(np.arange(4), np.zeros(4, int))) == math.sqrt(14 / 4)
    assert vdx.rmse(est.astype(np.float32), tru.astype(np.float32)).dtype == jnp.float32


def test_metrics_dtype_and_accumulation_are_those_of_jnp_mean_on_both_paths():
    """The NumPy path (concrete inputs) and the traced path give the same dtype, with x64 on or
    off and for a Python float next to float32; half precision is summed in float32 (a long
    bfloat16 sum would stop growing at 256)."""
    import ml_dtypes

    rng = np.random.default_rng(4)
    est, tru = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    for x64 in (True, False):
        with jax.enable_x64(x64):
            cases = (((est, tru), -1), ((est.astype(np.float32), tru.astype(np.float32)), -1),
                     ((np.float32(1.5), 0.0), None), ((np.arange(35).reshape(5, 7), np.zeros((5, 7), int)), -1))
            for args, axis in cases:
                eager = vdx.rmse(*args, axis=axis)
                traced = jax.jit(vdx.rmse, static_argnames="axis")(*args, axis=axis)
                assert eager.dtype == traced.dtype, (x64, eager.dtype, traced.dtype)
                np.testing.assert_allclose(np.asarray(eager), np.asarray(traced), rtol=1e-6)
    ones = np.ones(100_000, ml_dtypes.bfloat16)
    assert float(vdx.bias(ones, np.zeros_like(ones))) == 1.0
    assert float(jax.jit(vdx.bias)(ones, np.zeros_like(ones))) == 1.0
