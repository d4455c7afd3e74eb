"""Forward models: equilibria, RK4 order, climatology, rollout and twin problems."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import vardax_tutorials as vdx


def test_protocol_conformance():
    for model in (vdx.Lorenz63(), vdx.Lorenz96(n=10)):
        assert isinstance(model, vdx.ForwardModel)
        assert model.state_signature.shape == (model.state_size,)


def test_lorenz63_fixed_points_are_stationary():
    model = vdx.Lorenz63()
    for x in model.fixed_points():
        np.testing.assert_allclose(np.asarray(model.tendency(x)), 0.0, atol=1e-12)
        np.testing.assert_allclose(np.asarray(model.step(x, 0.01)), np.asarray(x), atol=1e-12)
        np.testing.assert_allclose(np.asarray(vdx.rollout(model, x, 100)[-1]), np.asarray(x), atol=1e-10)


def test_lorenz96_equilibrium_is_stationary():
    model = vdx.Lorenz96(n=12, F=8.0)
    x = jnp.full(12, 8.0)
    np.testing.assert_allclose(np.asarray(model.step(x)), np.asarray(x), atol=1e-12)


@pytest.mark.parametrize("model", [vdx.Lorenz63(), vdx.Lorenz96(n=8)], ids=["l63", "l96"])
def test_rk4_is_fourth_order(model):
    """Global error at a fixed time shrinks like dt^4 (slope of log error vs log dt)."""
    x0 = vdx.rollout(model, jnp.linspace(1.0, 2.0, model.state_size), 200)[-1]
    t_end = 0.64
    reference = vdx.rollout(model, x0, 2**12, dt=t_end / 2**12)[-1]
    dts, errors = [], []
    for k in range(5, 9):
        dt = t_end / 2**k
        dts.append(dt)
        errors.append(float(jnp.linalg.norm(vdx.rollout(model, x0, 2**k, dt=dt)[-1] - reference)))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert 3.8 < slope < 4.2, (slope, errors)


def test_lorenz96_climatology():
    """n=40, F=8: long-run mean about 2.3 and variance about 13 (Lorenz 1996)."""
    model = vdx.Lorenz96()
    x0 = 8.0 + 0.01 * jr.normal(jr.key(0), (40,))
    traj = vdx.rollout(model, x0, 22_000)[2_000:]
    mean, var = float(jnp.mean(traj)), float(jnp.var(traj))
    assert 2.2 < mean < 2.5, mean
    assert 12.0 < var < 14.0, var


def test_rollout_shape_and_first_row():
    model = vdx.Lorenz63()
    x0 = jnp.array([1.0, 2.0, 3.0])
    traj = vdx.rollout(model, x0, 5)
    assert traj.shape == (5, 3)
    np.testing.assert_allclose(np.asarray(traj[0]), np.asarray(model.step(x0, model.dt)), atol=1e-14)


def test_generate_problem_is_seeded_and_consistent(getkey):
    model = vdx.Lorenz96(n=10)
    key = getkey()
    p1 = vdx.generate_problem(model, key=key, n_times=12, obs_fraction=0.5, obs_every=2, obs_std=0.5)
    p2 = vdx.generate_problem(model, key=key, n_times=12, obs_fraction=0.5, obs_every=2, obs_std=0.5)
    assert np.array_equal(np.asarray(p1.obs), np.asarray(p2.obs), equal_nan=True)
    assert p1.truth.shape == (12, 10) and p1.obs.shape == (12, 10) and p1.background.shape == (10,)
    np.testing.assert_array_equal(np.isnan(np.asarray(p1.obs)), ~np.asarray(p1.mask))
    assert not bool(jnp.any(p1.mask[1::2]))
    np.testing.assert_allclose(np.asarray(p1.truth[1]), np.asarray(model.step(p1.truth[0])), atol=1e-12)
    residual = jnp.where(p1.mask, p1.obs - p1.truth, 0.0)
    assert 0.3 < float(jnp.sqrt(jnp.sum(residual**2) / jnp.sum(p1.mask))) < 0.7
    batch = p1.as_batch()
    assert batch.shape == (1, 12, 10)


def test_generate_problem_with_linear_obs_and_fixed_mask(getkey):
    H = jnp.eye(3)[jnp.array([0, 2])]
    p = vdx.generate_problem(
        vdx.Lorenz63(), key=getkey(), n_times=5, obs_op=vdx.LinearObs(H), mask=jnp.array([True, False])
    )
    assert p.obs.shape == (5, 2)
    assert bool(jnp.all(p.mask[:, 0])) and not bool(jnp.any(p.mask[:, 1]))
    with pytest.raises(ValueError, match="as_batch needs obs of the truth's shape"):
        p.as_batch()


def test_models_run_in_float32():
    with jax.enable_x64(False):
        model = vdx.Lorenz96(n=40)
        traj = vdx.rollout(model, jnp.full(40, 8.0).at[0].add(0.01), 100)
        assert traj.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(traj)))


def test_two_level_lorenz96(getkey):
    model = vdx.Lorenz96TwoLevel()
    assert isinstance(model, vdx.ForwardModel) and model.state_size == 8 + 8 * 32
    x0 = jnp.concatenate([8.0 + jr.normal(getkey(), (8,)), 0.1 * jr.normal(getkey(), (256,))])
    traj = vdx.rollout(model, x0, 4000)
    assert bool(jnp.all(jnp.isfinite(traj)))
    X, Y = model.split(traj[-1])
    assert X.shape == (8,) and Y.shape == (8, 32)
    # with no coupling the slow variables are plain Lorenz-96
    uncoupled = vdx.Lorenz96TwoLevel(h=0.0)
    l96 = vdx.Lorenz96(n=8, F=20.0, dt=0.005)
    np.testing.assert_allclose(
        np.asarray(uncoupled.step(x0)[:8]), np.asarray(l96.step(x0[:8])), atol=1e-12
    )


@pytest.mark.parametrize("k", [1, 3, 7])
def test_advection_diffusion_fourier_mode_decay_and_mass(k):
    model = vdx.AdvectionDiffusion(n=32, velocity=0.0, kappa=0.1, dt=0.2)
    x = 2.0 + jnp.cos(k * model.grid)
    traj = vdx.rollout(model, x, 5)
    t = 5 * model.dt
    analytic = 2.0 + jnp.exp(-model.kappa * k**2 * t) * jnp.cos(k * model.grid)
    np.testing.assert_allclose(np.asarray(traj[-1]), np.asarray(analytic), atol=1e-6)
    np.testing.assert_allclose(np.asarray(jnp.mean(traj, axis=1)), 2.0, atol=1e-12)


def test_advection_shifts_and_conserves_mass(getkey):
    model = vdx.AdvectionDiffusion(n=64, velocity=1.0, kappa=0.0, dt=0.25)
    x = jnp.exp(-((model.grid - jnp.pi) ** 2))
    y = vdx.rollout(model, x, 4)[-1]
    np.testing.assert_allclose(np.asarray(y), np.asarray(model.exact_solution(x, 1.0)), atol=1e-6)
    np.testing.assert_allclose(float(jnp.sum(y)), float(jnp.sum(x)), rtol=1e-10)
    import diffrax as dfx  # the vector field also integrates under diffrax directly, with any adjoint

    sol = dfx.diffeqsolve(
        dfx.ODETerm(model.vector_field), dfx.Tsit5(), 0.0, 1.0, 0.01, x,
        adjoint=dfx.BacksolveAdjoint(), stepsize_controller=dfx.PIDController(rtol=1e-8, atol=1e-10),
    )
    np.testing.assert_allclose(np.asarray(sol.ys[-1]), np.asarray(model.exact_solution(x, 1.0)), atol=1e-6)


def test_dynamical_prior(getkey):
    model = vdx.AdvectionDiffusion(n=32, velocity=0.0, kappa=0.05, dt=0.1)
    prior = vdx.DynamicalPrior(model, n_steps=4)
    x = 1.0 + jnp.sin(2 * model.grid)
    expected = 1.0 + jnp.exp(-0.05 * 4 * 0.4) * jnp.sin(2 * model.grid)
    np.testing.assert_allclose(np.asarray(prior(x)), np.asarray(expected), atol=1e-6)
    window = jnp.stack([x, prior(x), prior(prior(x))])
    np.testing.assert_allclose(float(prior.cost(window)), 0.0, atol=1e-10)
    np.testing.assert_allclose(float(jnp.mean(prior(x))), 1.0, atol=1e-12)
    import jax

    noisy = window + 0.1 * jr.normal(getkey(), window.shape)
    g_full = jax.grad(prior.cost)(noisy)
    g_stop = jax.grad(vdx.DynamicalPrior(model, n_steps=4, stop_gradient=True).cost)(noisy)
    np.testing.assert_allclose(np.asarray(g_stop), np.asarray(noisy - prior(noisy)), atol=1e-12)
    assert float(jnp.max(jnp.abs(g_full - g_stop))) > 1e-3
    with pytest.raises(ValueError, match=r"n_steps=0, expected an integer >= 1"):
        vdx.DynamicalPrior(model, n_steps=0)
    with pytest.raises(ValueError, match=r"x of shape \(5,\), expected \(32,\) or \(T, 32\)"):
        prior(jnp.ones(5))


def test_linear_model_window_is_matrix_powers(getkey):
    A = jr.normal(getkey(), (5, 5)) / 3.0
    x0 = jr.normal(getkey(), (5,))
    model = vdx.LinearModel(A)
    assert isinstance(model, vdx.ForwardModel)
    expected = np.stack([np.linalg.matrix_power(np.asarray(A), t) @ np.asarray(x0) for t in range(4)])
    np.testing.assert_allclose(vdx.window(model, x0, 4), expected, rtol=1e-12, atol=1e-12)
    # The adjoint of one step is A^T, written out here, not taken from autodiff.
    _, vjp = jax.vjp(model.step, x0)
    v = jr.normal(getkey(), (5,))
    np.testing.assert_allclose(vjp(v)[0], np.asarray(A).T @ np.asarray(v), rtol=1e-12, atol=1e-12)
    # A step is one application of A whatever dt says (not checked, not used); the state is checked.
    np.testing.assert_array_equal(model.step(x0, -3.0), model.step(x0))
    with pytest.raises(ValueError, match=r"LinearModel.step got state of shape \(4,\), expected \(5,\)"):
        model.step(jnp.ones(4))


@pytest.mark.parametrize(
    "matrix, match",
    [(np.ones((3, 4)), r"matrix of shape \(3, 4\), expected a square"),
     (np.ones(3), r"matrix of shape \(3,\), expected a 2-D array"),
     (np.array([[1.0, np.nan], [0.0, 1.0]]), "non-finite matrix")],
)
def test_linear_model_refuses_bad_matrices(matrix, match):
    with pytest.raises(ValueError, match=match):
        vdx.LinearModel(matrix)


def test_best_time_calls_warm_up_then_repeats():
    calls = []

    def fn(x):
        calls.append(x)
        return jnp.asarray(x)

    t = vdx.best_time(fn, 1.0, repeats=3)
    assert len(calls) == 4 and t >= 0.0
    vdx.best_time(fn, 2.0, repeats=2, warmup=False)    # already compiled: no untimed call
    assert calls[4:] == [2.0, 2.0]
    with pytest.raises(ValueError, match="repeats"):
        vdx.best_time(fn, 1.0, repeats=0)
    with pytest.raises(TypeError, match="best_time got a traced argument"):
        jax.jit(lambda x: vdx.best_time(fn, x))(1.0)


def test_best_time_leaves_out_calls_that_compile():
    square = jax.jit(lambda x: x * x)
    with pytest.raises(RuntimeError, match="every one of the 1 timed calls compiled"):
        vdx.best_time(square, jnp.ones(7), repeats=1, warmup=False)     # not compiled for (7,) yet
    assert vdx.best_time(square, jnp.ones(7), repeats=1, warmup=False) >= 0.0   # compiled now
    assert vdx.best_time(square, jnp.ones(9), repeats=2, warmup=False) >= 0.0   # the second call counts


def test_two_level_twin_observes_only_the_slow_variables():
    model = vdx.Lorenz96TwoLevel(K=4, J=4, dt=0.005)
    problem = vdx.two_level_twin(model, key=jr.key(3), n_times=5, obs_std=0.5, background_std=1.0, spin_up=50)
    assert problem.truth.shape == (5, 20) and problem.obs.shape == (5, 20)
    slow = np.arange(20) < 4
    np.testing.assert_array_equal(np.asarray(problem.mask), np.broadcast_to(slow, (5, 20)))
    assert np.all(np.isfinite(np.asarray(problem.obs)[:, :4])) and np.all(np.isnan(np.asarray(problem.obs)[:, 4:]))
    # The truth is a model trajectory, and the same key gives the same problem.
    np.testing.assert_allclose(problem.truth[1], model.step(problem.truth[0], model.dt), rtol=1e-12, atol=1e-12)
    again = vdx.two_level_twin(model, key=jr.key(3), n_times=5, obs_std=0.5, background_std=1.0, spin_up=50)
    np.testing.assert_array_equal(np.asarray(again.truth), np.asarray(problem.truth))
    with pytest.raises(TypeError, match="Lorenz96TwoLevel"):
        vdx.two_level_twin(vdx.Lorenz96(n=8), key=jr.key(0), n_times=3)


def test_linear_model_time_loops_use_advance():
    model = vdx.LinearModel(np.eye(3))
    assert vdx.models.base.stepper(model) == model.advance
    assert vdx.models.base.stepper(vdx.Lorenz63()) == vdx.Lorenz63().advance
