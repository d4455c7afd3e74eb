"""ThreeDVar on a 10^4-variable state with a Kronecker/Matérn B and sparse observations.

A 100 x 100 periodic-free grid; the truth is a draw from N(0, B) with
B = B_y (x) B_x (Matérn nu=1.5, length scale 8 cells); 5% of the points are
observed with noise std 0.1; the background is 0. Each minimiser runs
ThreeDVar with the control-variable transform (cvt=True, so J_b = |chi|^2/2
and only L_B = sqrt(B) = L_y (x) L_x is applied, factor by factor). Prints
iterations, wall time after compilation, final cost and the analysis RMSE,
against the exact BLUE from OptimalInterpolation (CG inner solve).

Run: python benchmarks/threedvar_large.py
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp
import jax.random as jr  # noqa: E402
import lineax as lx  # noqa: E402
import optimistix as optx  # noqa: E402

import vardax_tutorials as vdx  # noqa: E402
from _timing import first_and_best  # noqa: E402  (benchmarks/ is on sys.path when a script runs)

NY = NX = 100
OBS_FRACTION, OBS_STD = 0.05, 0.1


def problem():
    axis = jnp.arange(float(NX))
    B1 = vdx.MaternCovariance(axis, length_scale=8.0, nu=1.5)
    B = vdx.KroneckerCovariance(B1, B1)
    k1, k2, k3 = jr.split(jr.key(0), 3)
    truth = vdx.sqrt(B).mv(jr.normal(k1, (NY * NX,)))
    mask = jr.uniform(k2, truth.shape) < OBS_FRACTION
    y = jnp.where(mask, truth + OBS_STD * jr.normal(k3, truth.shape), jnp.nan)
    R = vdx.diagonal_covariance(jnp.full(truth.shape, OBS_STD**2))
    return B, R, truth, y, mask


def main() -> None:
    B, R, truth, y, mask = problem()
    xb = jnp.zeros_like(truth)
    print(f"state {NY}x{NX} = {NY * NX} variables, {int(mask.sum())} observations, dtype {truth.dtype}")
    print(f"background RMSE {float(vdx.rmse(xb, truth)):.3f}\n")
    obs_op = vdx.MaskedIdentity()
    oi = vdx.OptimalInterpolation(obs_op, B, R)
    blue, first, run = first_and_best(eqx.filter_jit(lambda b, o: oi.analyse(b, o)), xb, y, repeats=1)
    print(f"{'method':<34}{'iters':>6}{'compile+run s':>15}{'run s':>8}{'cost':>11}{'RMSE':>8}{'|x-BLUE|max':>13}")
    print(f"{'OI (BLUE, lx.CG)':<34}{'-':>6}{first:>15.2f}{run:>8.2f}{'-':>11}{float(vdx.rmse(blue, truth)):>8.4f}{0.0:>13.1e}")
    tol = 1e-8
    minimisers = {
        "BFGS": optx.BFGS(rtol=tol, atol=tol),
        "LBFGS": optx.LBFGS(rtol=tol, atol=tol),
        "NonlinearCG": optx.NonlinearCG(rtol=tol, atol=tol),
        "GaussNewton (lx.NormalCG inner)": optx.GaussNewton(rtol=tol, atol=tol, linear_solver=lx.Normal(lx.CG(rtol=tol, atol=tol))),
    }
    for name, minimiser in minimisers.items():
        method = vdx.ThreeDVar(obs_op, B, R, minimiser=minimiser, max_steps=1000, cvt=True)
        sol, first, run = first_and_best(eqx.filter_jit(lambda b, o, m=method: m.solve(b, o)), xb, y, repeats=1)
        err = float(jnp.max(jnp.abs(sol.analysis - blue)))
        print(f"{name:<34}{int(sol.num_steps):>6}{first:>15.2f}{run:>8.2f}{float(sol.cost):>11.2f}"
              f"{float(vdx.rmse(sol.analysis, truth)):>8.4f}{err:>13.1e}  converged={bool(sol.converged)}")


if __name__ == "__main__":
    main()
