"""Kronecker (space x time) covariance against the dense matrix: time and memory.

B = B_t (x) B_s with B_s a Matérn covariance on n_s = 1000 points and B_t one on
n_t time points. For n_t = 2, 4, 8 both forms are measured (matvec, and a solve
B^{-1}v that includes the factorisation). At the issue's size n_t = 50 the dense
matrix would hold (50 000)^2 numbers (20 GB in float64), so only the Kronecker
form is run there; the dense times at that size are extrapolated from the
measured ones (matvec ~ n^2, Cholesky solve ~ n^3) and labelled as such.

Run: python benchmarks/kronecker_covariance.py
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import jax.scipy.linalg as jsl  # noqa: E402
import numpy as np  # noqa: E402

import vardax_tutorials as vdx  # noqa: E402
from _timing import first_and_best  # noqa: E402  (benchmarks/ is on sys.path when a script runs)

N_S = 1000


def best_time(fn, *args, repeats=5):
    return first_and_best(fn, *args, repeats=repeats)[2]


def factors(n_t):
    B_s = vdx.MaternCovariance(jnp.linspace(0.0, 1.0, N_S), length_scale=0.01, nu=1.5)
    B_t = vdx.MaternCovariance(jnp.arange(float(n_t)), length_scale=3.0, nu=1.5)
    return B_t, B_s


def main() -> None:
    kron_mv = jax.jit(lambda K, v: K.mv(v))
    kron_solve = jax.jit(vdx.covariance.solve)
    dense_mv = jax.jit(lambda D, v: D @ v)
    dense_solve = jax.jit(lambda D, v: jsl.cho_solve(jsl.cho_factor(D, lower=True), v))

    print(f"B = B_t (x) B_s, n_s = {N_S}, float64, best of 5 after compilation\n")
    header = f"{'n_t':>4}{'n':>8}{'matvec kron':>13}{'matvec dense':>14}{'speed-up':>10}{'solve kron':>12}{'solve dense':>13}{'speed-up':>10}{'MB kron':>9}{'MB dense':>10}"
    print(header)
    rows = []
    for n_t in (2, 4, 8):
        B_t, B_s = factors(n_t)
        K = vdx.KroneckerCovariance(B_t, B_s)
        D = K.as_matrix()
        v = jr.normal(jr.key(0), (n_t * N_S,))
        np.testing.assert_allclose(np.asarray(kron_mv(K, v)), np.asarray(D @ v), rtol=1e-10, atol=1e-10)
        t = [best_time(kron_mv, K, v), best_time(dense_mv, D, v), best_time(kron_solve, K, v), best_time(dense_solve, D, v, repeats=2)]
        rows.append((n_t * N_S, t))
        mb_k = 8 * (N_S**2 + n_t**2) / 1e6
        mb_d = 8 * (n_t * N_S) ** 2 / 1e6
        print(f"{n_t:>4}{n_t * N_S:>8}{1e3 * t[0]:>11.2f}ms{1e3 * t[1]:>12.2f}ms{t[1] / t[0]:>9.0f}x"
              f"{1e3 * t[2]:>10.1f}ms{1e3 * t[3]:>11.1f}ms{t[3] / t[2]:>9.0f}x{mb_k:>9.1f}{mb_d:>10.0f}")
        del D

    n_t = 50
    B_t, B_s = factors(n_t)
    K = vdx.KroneckerCovariance(B_t, B_s)
    v = jr.normal(jr.key(1), (n_t * N_S,))
    tk_mv, tk_solve = best_time(kron_mv, K, v), best_time(kron_solve, K, v)
    n = n_t * N_S
    n_ref, t_ref = rows[-1]
    dense_mv_est = t_ref[1] * (n / n_ref) ** 2
    dense_solve_est = t_ref[3] * (n / n_ref) ** 3
    print(f"{n_t:>4}{n:>8}{1e3 * tk_mv:>11.2f}ms{'~' + format(1e3 * dense_mv_est, '.0f'):>12}ms{dense_mv_est / tk_mv:>9.0f}x"
          f"{1e3 * tk_solve:>10.1f}ms{'~' + format(dense_solve_est, '.0f'):>11} s{dense_solve_est / tk_solve:>9.0f}x"
          f"{8 * (N_S**2 + n_t**2) / 1e6:>9.1f}{8 * n**2 / 1e6:>10.0f}")
    print("\n(~: dense time at n_t = 50 extrapolated from the n_t = 8 measurement; its 20 GB matrix is not formed)")
    # the Kronecker solve is exact: check B (B^{-1} v) = v at full size
    resid = float(jnp.max(jnp.abs(K.mv(kron_solve(K, v)) - v)) / jnp.max(jnp.abs(v)))
    print(f"relative residual of the Kronecker solve at n = {n}: {resid:.1e}")


if __name__ == "__main__":
    main()
