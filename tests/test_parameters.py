"""Model and covariance parameters are arrays: differentiable, and a new value does not recompile."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optimistix as optx

import vardax_tutorials as vdx

N = 8
COORDS = jnp.arange(float(N))
H = vdx.LinearObs(jnp.eye(N)[::2])  # every other point observed
R = vdx.diagonal_covariance(jnp.full(N // 2, 0.25))
GN = optx.GaussNewton(rtol=1e-13, atol=1e-13)


def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


def threedvar(ell):
    return vdx.ThreeDVar(H, vdx.matern_covariance(COORDS, length_scale=ell, nu=2.5), R, minimiser=GN)


def test_gradient_with_respect_to_the_matern_length_scale(getkey):
    xb, y = jr.normal(getkey(), (N,)), jr.normal(getkey(), (N // 2,))
    w = jr.normal(getkey(), (N,))
    x = jr.normal(getkey(), (N,))
    ell = 1.7

    def cost(ell):
        B = vdx.matern_covariance(COORDS, length_scale=ell, nu=2.5)
        return vdx.prior_cost(x, xb, B) + vdx.obs_cost_1d(x, y, H, R)

    def analysis(ell):
        return jnp.vdot(w, threedvar(ell).analyse(xb, y))

    for f, h, rtol in ((cost, 1e-4, 1e-8), (analysis, 1e-5, 1e-7)):
        g = float(jax.grad(f)(ell))
        fd = float(central_difference(f, ell, h))
        assert abs(g) > 1e-3  # a derivative worth checking
        np.testing.assert_allclose(g, fd, rtol=rtol)


def test_gradient_with_respect_to_lorenz96_forcing(getkey):
    T = 5
    p = vdx.generate_problem(vdx.Lorenz96(n=N), key=getkey(), n_times=T, obs_std=0.5, background_std=0.5, spin_up=300)
    w = jr.normal(getkey(), (N,))
    x0 = p.truth[0] + 0.1 * jr.normal(getkey(), (N,))
    F0 = 8.0

    def method(F):
        return vdx.StrongFourDVar(vdx.Lorenz96(n=N, F=F), vdx.MaskedIdentity(), p.prior_cov, p.obs_cov, minimiser=GN)

    def cost(F):
        return method(F).cost(x0, p.background, p.obs)

    def analysis(F):
        return jnp.vdot(w, method(F).analyse(p.background, p.obs))

    for f, h, rtol in ((cost, 1e-4, 1e-7), (analysis, 1e-5, 1e-6)):
        g = float(jax.grad(f)(F0))
        fd = float(central_difference(f, F0, h))
        assert abs(g) > 1e-3
        np.testing.assert_allclose(g, fd, rtol=rtol)


def test_a_new_parameter_value_does_not_recompile(getkey):
    xb, y = jr.normal(getkey(), (N,)), jr.normal(getkey(), (N // 2,))
    jitted = jax.jit(lambda ell: threedvar(ell).analyse(xb, y))
    jitted(1.0)  # compiles
    with vdx.count_compiles() as compiles:
        for ell in (1.5, 2.0, 3.0):
            jitted(ell)
    assert compiles.count == 0
    # a method built eagerly: its internal jit sees the length scale as an array leaf
    threedvar(1.0).analyse(xb, y)
    with vdx.count_compiles() as compiles:
        for ell in (1.5, 2.0, 3.0):
            threedvar(ell).analyse(xb, y)
    assert compiles.count == 0
    # the same for a model parameter: three forcings, one compiled rollout
    x0 = 8.0 + jr.normal(getkey(), (N,))
    vdx.rollout(vdx.Lorenz96(n=N, F=8.0), x0, 10)
    with vdx.count_compiles() as compiles:
        trajectories = [vdx.rollout(vdx.Lorenz96(n=N, F=F), x0, 10) for F in (6.0, 8.5, 10.0)]
    assert compiles.count == 0
    assert float(jnp.max(jnp.abs(trajectories[0] - trajectories[2]))) > 1e-2  # the values do change


def test_a_static_setting_does_recompile(getkey):
    """The counter can fail: a new max_steps (a static field) compiles a new program."""
    xb, y = jr.normal(getkey(), (N,)), jr.normal(getkey(), (N // 2,))
    B = vdx.matern_covariance(COORDS, length_scale=2.0)
    vdx.ThreeDVar(H, B, R, max_steps=100).analyse(xb, y)
    with vdx.count_compiles() as compiles:
        vdx.ThreeDVar(H, B, R, max_steps=101).analyse(xb, y)
    assert compiles.count >= 1
