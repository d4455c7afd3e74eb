"""Cycled strong-constraint 4DVar on Lorenz-96, against the window length.

Set-up (issue 4): n = 40, F = 8, one RK4 step of 0.05 between observations,
every variable observed with R = I, consecutive windows of L observation times
(the last row of a window is one step before the first row of the next), a
static B = 0.02 x the climatological covariance. 10 windows of assimilation
spin-up are discarded, then the RMSE of the analysis at each window's end is
averaged over at least 30 model time units. The whole cycle is one compiled
`lax.scan` over windows of `StrongFourDVar.as_analysis_step()`.

Run: python benchmarks/cycled_fourdvar_lorenz96.py
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

import vardax_tutorials as vdx  # noqa: E402
from _timing import first_and_best  # noqa: E402  (benchmarks/ is on sys.path when a script runs)

SPINUP_WINDOWS = 10
MEASURED_TIME = 30.0
B_SCALE = 0.02


def climatological_covariance(model):
    x = vdx.rollout(model, 8.0 + jr.normal(jr.key(1), (model.n,)), 20_000)[1000:]
    return jnp.cov(x.T)


def run(window_len, model, B, key):
    n_windows = SPINUP_WINDOWS + int(np.ceil(MEASURED_TIME / (window_len * model.dt)))
    n_times = n_windows * window_len
    p = vdx.generate_problem(model, key=key, n_times=n_times, obs_std=1.0, background_std=1.0, spin_up=2000)
    obs = p.obs.reshape(n_windows, window_len, model.n)
    step = vdx.StrongFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov).as_analysis_step()

    @eqx.filter_jit
    def cycle(x0, obs):
        def body(xb, y):
            xa_end = step(xb, y, obs_op=vdx.MaskedIdentity(), obs_err_cov=p.obs_cov)
            return model.step(xa_end), xa_end

        return jax.lax.scan(body, x0, obs)[1]

    ends, first, run_time = first_and_best(cycle, p.background, obs, repeats=1)
    truth_ends = p.truth.reshape(n_windows, window_len, model.n)[:, -1]
    rmse = vdx.rmse(ends, truth_ends, axis=-1)[SPINUP_WINDOWS:]
    measured_time = (n_windows - SPINUP_WINDOWS) * window_len * model.dt
    return float(jnp.mean(rmse)), 1e3 * run_time / n_windows, first, measured_time


def main() -> None:
    model = vdx.Lorenz96(n=40, F=8.0, dt=0.05)
    B = vdx.dense_covariance(B_SCALE * climatological_covariance(model))
    print(f"cycled strong 4DVar, Lorenz-96 n=40 F=8, R=I, B = {B_SCALE} x climatology, float64")
    print(f"{'window L':>9}{'time units':>12}{'mean RMSE':>11}{'ms / window':>13}{'compile+run s':>15}")
    for window_len in (16, 4, 1):
        rmse, ms, first, measured = run(window_len, model, B, jr.key(7))
        print(f"{window_len:>9}{measured:>12.1f}{rmse:>11.3f}{ms:>13.1f}{first:>15.1f}")


if __name__ == "__main__":
    main()
