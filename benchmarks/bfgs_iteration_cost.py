"""Cost of one BFGS iteration of strong 4DVar, for each forward adjoint.

Optimistix's BFGS gets the gradient by linearising the cost (`jax.linearize`)
and transposing the linearisation, which works through diffrax's custom-VJP
adjoints; `ForwardMode` runs with `autodiff_mode="fwd"`. The library used to
wrap the cost in a JVP rule built from its gradient (`vdx.adjoint_gradient`,
removed); running this script on a checkout from before the change gives the
"before" column of the note on the core-contract issue.

Set-up: Lorenz-96, n = 40, T = 20 observation times (dt = 0.05), every variable
observed with unit error, B = 0.5 I, float64. Reported: iterations, the best of
five solves after compilation, and that time divided by the iterations.

Run: python benchmarks/bfgs_iteration_cost.py
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import diffrax as dfx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402

import vardax_tutorials as vdx  # noqa: E402
from _timing import first_and_best  # noqa: E402  (benchmarks/ is on sys.path when a script runs)

ADJOINTS = {
    "lax.scan": None,
    "RecursiveCheckpoint": dfx.RecursiveCheckpointAdjoint(),
    "Direct": dfx.DirectAdjoint(),
    "Backsolve": dfx.BacksolveAdjoint(),
    "ForwardMode": dfx.ForwardMode(),
}


def main():
    n, T = 40, 20
    model = vdx.Lorenz96(n=n)
    p = vdx.generate_problem(model, key=jr.key(0), n_times=T, obs_std=1.0, background_std=1.0, spin_up=500)
    B = vdx.diagonal_covariance(jnp.full(n, 0.5))
    print(f"strong 4DVar, BFGS, Lorenz-96 n = {n}, T = {T}, float64 (best of 5 after compilation)")
    print(f"{'forward adjoint':<22}{'iterations':>11}{'solve (ms)':>12}{'per iteration (ms)':>20}")
    for name, adjoint in ADJOINTS.items():
        method = vdx.StrongFourDVar(model, vdx.MaskedIdentity(), B, p.obs_cov, forward_adjoint=adjoint)
        sol, _, best = first_and_best(lambda: method.solve(p.background, p.obs))
        steps = int(sol.num_steps)
        print(f"{name:<22}{steps:>11d}{1e3 * best:>12.1f}{1e3 * best / steps:>20.2f}")


if __name__ == "__main__":
    main()
