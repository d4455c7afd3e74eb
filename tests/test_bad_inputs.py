"""Bad input to every public entry point gives a clear error: eagerly, under `jax.jit` and under `jax.vmap`.

Each case calls one public function or constructor with one bad argument and
states the exception raised eagerly and a regular expression its message must
match. The same call is then run under `jax.jit` (the array arguments traced)
and, where the case has array arguments, under `jax.vmap` (each array stacked
twice). Shape, type and argument errors are raised while tracing, as the same
exception; value errors (NaN, a non-positive variance, a covariance that cannot
be whitened, a diverging window, non-convergence) come from `eqx.error_if` /
`eqx.branched_error_if` when the compiled program runs: as an
`EquinoxRuntimeError` (under `jax.vmap`, or `eqx.filter_jit`) or a
`JaxRuntimeError` whose text contains the same message (under plain `jax.jit`).
No case may return: a case that returns, in any mode, fails.

The modes column says where a case runs: e = eagerly, j = under `jax.jit`,
v = under `jax.vmap`. Two checks are eager only, by design: the eigenvalue
test of `dense_covariance` and `vdx.sqrt`'s refusal of a failed Cholesky
(under `jax.jit` every method refuses such a covariance where it factorises it:
the `*-indefinite-B` and `*-singular-B` cases).

| case | eager error | modes |
|---|---|---|
| diagonal-negative-variance | ValueError | ejv |
| diagonal-zero-variance | ValueError | ejv |
| diagonal-nan-variance | ValueError | ejv |
| diagonal-2d | ValueError | ejv |
| diagonal-complex | TypeError | ejv |
| dense-not-square | ValueError | ejv |
| dense-not-symmetric | ValueError | ejv |
| dense-nan | ValueError | ejv |
| dense-complex | TypeError | ejv |
| dense-indefinite | ValueError | e |
| matern-negative-length | ValueError | ejv |
| matern-zero-variance | ValueError | ejv |
| matern-complex-variance | TypeError | ejv |
| matern-negative-period | ValueError | ejv |
| matern-nan-coords | ValueError | ejv |
| matern-bad-nu | ValueError | ejv |
| kronecker-untagged | TypeError | ejv |
| sqrt-singular | ValueError | e |
| prior-cost-singular-B | ValueError | ejv |
| obs-cost-singular-R | ValueError | ejv |
| window-obs-cost-singular-R | ValueError | ejv |
| linear-obs-1d | ValueError | ejv |
| linear-obs-nan | ValueError | ejv |
| linear-obs-state-shape | ValueError | ejv |
| linear-obs-mask-shape | ValueError | ejv |
| masked-identity-mask-shape | ValueError | ejv |
| averaging-kernel-h-above-1 | ValueError | ejv |
| averaging-kernel-h-nan | ValueError | ejv |
| averaging-kernel-h-complex | TypeError | ejv |
| averaging-kernel-prior_profile-nan | ValueError | ejv |
| averaging-kernel-A-nan | ValueError | ejv |
| averaging-kernel-prior_profile-shape | ValueError | ejv |
| instrument-empty-name | ValueError | ejv |
| instrument-duplicate-name | ValueError | ejv |
| fusion-unknown-mask | ValueError | ejv |
| lorenz63-negative-dt | ValueError | ejv |
| lorenz63-nan-sigma | ValueError | ejv |
| lorenz96-n-3 | ValueError | ejv |
| lorenz96-n-float | ValueError | ejv |
| lorenz96-inf-F | ValueError | ejv |
| two-level-K-2 | ValueError | ejv |
| advection-negative-kappa | ValueError | ejv |
| advection-zero-length | ValueError | ejv |
| linear-model-complex | TypeError | ejv |
| twin-blows-up | ValueError | ejv |
| twin-blows-up-background | ValueError | ejv |
| step-state-shape | ValueError | ejv |
| step-negative-dt | ValueError | ejv |
| rollout-zero-steps | ValueError | ejv |
| rollout-float-steps | ValueError | ejv |
| rollout-x0-shape | ValueError | ejv |
| rollout-x0-nan | ValueError | ejv |
| rollout-negative-dt | ValueError | ejv |
| rollout-not-a-model | TypeError | ejv |
| window-zero-times | ValueError | ejv |
| window-x0-shape | ValueError | ejv |
| window-bad-adjoint | TypeError | ejv |
| problem-zero-times | ValueError | ej |
| problem-zero-obs-std | ValueError | ejv |
| problem-fraction-above-1 | ValueError | ejv |
| problem-mask-shape | ValueError | ejv |
| batch-nan-observed | ValueError | ejv |
| batch-2d-input | ValueError | ejv |
| metrics-shapes | ValueError | ejv |
| metrics-complex | TypeError | ejv |
| metrics-empty | ValueError | ejv |
| oi-obs-shape | ValueError | ejv |
| oi-background-shape | ValueError | ejv |
| oi-mask-shape | ValueError | ejv |
| oi-nan-observed | ValueError | ejv |
| oi-nan-background | ValueError | ejv |
| oi-nonlinear-H | TypeError | ejv |
| oi-untagged-B | TypeError | ejv |
| oi-raw-R | TypeError | ejv |
| oi-H-and-R-disagree | ValueError | ejv |
| oi-negative-variance | ValueError | ejv |
| oi-not-a-batch | TypeError | ejv |
| oi-singular-system | RuntimeError | ejv |
| 3dvar-singular-B | ValueError | ejv |
| 3dvar-complex-background | TypeError | ejv |
| 3dvar-indefinite-B | ValueError | ejv |
| 3dvar-singular-R | ValueError | ejv |
| 3dvar-not-converged | RuntimeError | ejv |
| 3dvar-init-shape | ValueError | ejv |
| 3dvar-init-nan | ValueError | ejv |
| 3dvar-max-steps-0 | ValueError | ejv |
| 3dvar-minimiser-str | TypeError | ejv |
| 3dvar-throw-not-bool | TypeError | ejv |
| 3dvar-kstep-with-bfgs | TypeError | ejv |
| 3dvar-onestep-with-nonlinear-cg | TypeError | ejv |
| 3dvar-adjoint-not-optimistix | TypeError | ejv |
| kstep-k-0 | ValueError | ejv |
| strong-singular-B | ValueError | ejv |
| strong-indefinite-B | ValueError | ejv |
| strong-singular-R | ValueError | ejv |
| strong-window-blows-up | FloatingPointError | ejv |
| strong-not-converged | RuntimeError | ejv |
| strong-obs-1d | ValueError | ejv |
| strong-obs-empty | ValueError | ejv |
| strong-mask-shape | ValueError | ejv |
| strong-model-size | ValueError | ejv |
| strong-forward-adjoint-str | TypeError | ejv |
| strong-nan-observed | ValueError | ejv |
| strong-nan-background | ValueError | ejv |
| strong-forward-not-a-model | TypeError | ejv |
| weak-singular-Q | ValueError | ejv |
| weak-Q-size | ValueError | ejv |
| incremental-singular-B | ValueError | ejv |
| incremental-singular-R | ValueError | ejv |
| incremental-cg-breakdown | FloatingPointError | ejv |
| incremental-diverges | FloatingPointError | ejv |
| incremental-not-converged | RuntimeError | ejv |
| incremental-n-outer-0 | ValueError | ejv |
| incremental-negative-cg-tol | ValueError | ejv |
| incremental-config-type | TypeError | ejv |
| step-not-a-method | TypeError | ejv |
| step-oi-nonlinear-H | TypeError | ejv |
| step-singular-R | ValueError | ejv |
"""

import dataclasses
import re
from collections.abc import Callable

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import optimistix as optx
import pytest

import vardax_tutorials as vdx


pytestmark = pytest.mark.usefixtures("library_messages")  # the library's own messages, not jaxtyping's


class Cube(vdx.AbstractObservationOperator):
    """A nonlinear observation operator, H(x) = x**3."""

    def __call__(self, state, mask=None):
        return vdx.obs.apply_mask(state**3, mask)

    def linearize(self, state):
        return lx.DiagonalLinearOperator(3 * state**2)


class CubeRoot(vdx.AbstractObservationOperator):
    """H(x) = x^(1/3): finite everywhere, with an infinite derivative at 0."""

    def __call__(self, state, mask=None):
        return vdx.obs.apply_mask(jnp.cbrt(state), mask)

    def linearize(self, state):
        return lx.DiagonalLinearOperator(jnp.cbrt(state) / (3 * state))


class Persistence(vdx.AbstractRK4Model):
    dt: float = 0.1

    @property
    def state_size(self):
        return 3

    def tendency(self, state):
        return jnp.zeros_like(state)


class Explosive(vdx.AbstractRK4Model):
    dt: float = 1.0

    @property
    def state_size(self):
        return 3

    def tendency(self, x):
        return x**4


@dataclasses.dataclass
class Case:
    name: str
    fn: Callable
    args: tuple
    error: type
    match: str
    modes: str = "ejv"


H, I3 = vdx.MaskedIdentity(), jnp.ones(3)
B3 = R3 = vdx.diagonal_covariance(I3)
L63 = vdx.Lorenz63()
XB = jnp.array([1.0, 2.0, 20.0])
Y = jnp.array([1.1, 1.9, 20.5])
WIN = jnp.ones((3, 3))
SINGULAR = jnp.ones((3, 3))  # PSD, rank 1
INDEFINITE = jnp.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
NAN3 = jnp.array([1.0, jnp.nan, 1.0])


def dense(m):
    return vdx.dense_covariance(m, check=False)


def oi(obs_op=H, B=B3, R=R3):
    return vdx.OptimalInterpolation(obs_op, B, R)


def threedvar(B=B3, R=R3, **kw):
    return vdx.ThreeDVar(H, B, R, **kw)


def strong(B=B3, R=R3, forward=L63, **kw):
    return vdx.StrongFourDVar(forward, H, B, R, **kw)


def incremental(B=B3, R=R3, forward=L63, obs_op=H, **cfg):
    return vdx.IncrementalFourDVar(forward, obs_op, B, R, vdx.IncrementalConfig(**cfg))


CASES = [
    # covariances
    Case("diagonal-negative-variance", lambda v: vdx.diagonal_covariance(v), (jnp.array([1.0, -1.0, 1.0]),),
         ValueError, r"diagonal_covariance got a variance that is not finite and > 0"),
    Case("diagonal-zero-variance", lambda v: vdx.diagonal_covariance(v), (jnp.array([1.0, 0.0, 1.0]),),
         ValueError, r"not finite and > 0"),
    Case("diagonal-nan-variance", lambda v: vdx.diagonal_covariance(v), (NAN3,), ValueError, r"not finite and > 0"),
    Case("diagonal-2d", lambda v: vdx.diagonal_covariance(v), (jnp.ones((2, 2)),),
         ValueError, r"variances of shape \(2, 2\), expected a 1-D array"),
    Case("diagonal-complex", lambda v: vdx.diagonal_covariance(v), (I3 * (1 + 1j),), TypeError,
         r"diagonal_covariance got a complex variances \(dtype complex\d+\); expected real values"),
    Case("dense-not-square", lambda m: vdx.dense_covariance(m), (jnp.ones((2, 3)),),
         ValueError, r"matrix of shape \(2, 3\), expected a square"),
    Case("dense-not-symmetric", lambda m: vdx.dense_covariance(m), (jnp.array([[1.0, 0.5], [0.0, 1.0]]),),
         ValueError, r"non-symmetric matrix"),
    Case("dense-nan", lambda m: vdx.dense_covariance(m), (jnp.array([[1.0, jnp.nan], [jnp.nan, 1.0]]),),
         ValueError, r"non-finite entries"),
    Case("dense-complex", lambda m: vdx.dense_covariance(m), (jnp.eye(3) * (1 + 0j),), TypeError,
         r"dense_covariance got a complex matrix"),
    Case("dense-indefinite", lambda m: vdx.dense_covariance(m), (INDEFINITE,),
         ValueError, r"not positive semidefinite: smallest eigenvalue", modes="e"),
    Case("matern-negative-length", lambda ell: vdx.matern_covariance(jnp.arange(4.0), length_scale=ell),
         (jnp.array(-1.0),), ValueError, r"length_scale=.*expected a finite value > 0"),
    Case("matern-zero-variance", lambda v: vdx.matern_covariance(jnp.arange(4.0), variance=v), (jnp.array(0.0),),
         ValueError, r"variance=.*expected a finite value > 0"),
    Case("matern-complex-variance", lambda v: vdx.matern_covariance(jnp.arange(4.0), variance=v), (jnp.array(1.0 + 1j),),
         TypeError, r"MaternCovariance got a complex variance"),
    Case("matern-negative-period", lambda p: vdx.matern_covariance(jnp.arange(4.0), period=p), (jnp.array(-1.0),),
         ValueError, r"period=.*expected a finite value > 0"),
    Case("matern-nan-coords", lambda c: vdx.matern_covariance(c), (jnp.array([0.0, jnp.nan, 2.0]),),
         ValueError, r"non-finite coords"),
    Case("matern-bad-nu", lambda c: vdx.matern_covariance(c, nu=1.0), (jnp.arange(3.0),),
         ValueError, r"nu=1.0, expected one of \(0.5, 1.5, 2.5\)"),
    Case("kronecker-untagged", lambda d: vdx.KroneckerCovariance(lx.MatrixLinearOperator(jnp.eye(2)),
                                                                   vdx.diagonal_covariance(d)),
         (jnp.ones(2),), TypeError, r"left = MatrixLinearOperator without the positive-semidefinite tag"),
    Case("sqrt-singular", lambda m: vdx.sqrt(dense(m)), (SINGULAR,),
         ValueError, r"Cholesky factorisation failed", modes="e"),
    Case("prior-cost-singular-B", lambda x: vdx.prior_cost(x, I3, dense(SINGULAR)), (XB,),
         ValueError, r"prior_cost: prior_cov cannot be whitened"),
    Case("obs-cost-singular-R", lambda x: vdx.obs_cost_1d(x, Y, H, dense(SINGULAR)), (XB,),
         ValueError, r"obs_cost_1d: obs_cov cannot be whitened"),
    Case("window-obs-cost-singular-R", lambda x: vdx.window_obs_cost(jnp.stack([x, x]), jnp.ones((2, 3)), H,
                                                                     dense(SINGULAR)),
         (XB,), ValueError, r"window_obs_cost: obs_cov cannot be whitened"),
    # observation operators
    Case("linear-obs-1d", lambda h: vdx.LinearObs(h), (jnp.ones(3),), ValueError, r"H of shape \(3,\), expected an \(m, n\)"),
    Case("linear-obs-nan", lambda h: vdx.LinearObs(h), (jnp.array([[1.0, jnp.nan]]),), ValueError, r"LinearObs got a non-finite H"),
    Case("linear-obs-state-shape", lambda x: vdx.LinearObs(jnp.ones((2, 4)))(x), (jnp.ones(5),),
         ValueError, r"state of shape \(5,\), expected \(4,\)"),
    Case("linear-obs-mask-shape", lambda x: vdx.LinearObs(jnp.ones((2, 4)))(x, mask=jnp.ones(3, bool)), (jnp.ones(4),),
         ValueError, r"mask of shape \(3,\), expected \(2,\)"),
    Case("masked-identity-mask-shape", lambda x: H(x, mask=jnp.ones(2, bool)), (XB,),
         ValueError, r"mask of shape \(2,\), expected \(3,\)"),
    Case("averaging-kernel-h-above-1", lambda h: vdx.AveragingKernel(jnp.eye(3), I3, h), (jnp.array([0.0, 0.5, 1.5]),),
         ValueError, r"h outside \[0, 1\]"),
    Case("averaging-kernel-h-nan", lambda h: vdx.AveragingKernel(jnp.eye(3), I3, h), (NAN3,),
         ValueError, r"h outside \[0, 1\] \(or not finite\)"),
    Case("averaging-kernel-h-complex", lambda h: vdx.AveragingKernel(jnp.eye(3), I3, h), (0.5 * I3 * (1 + 1j),),
         TypeError, r"AveragingKernel got a complex h"),
    Case("averaging-kernel-prior_profile-nan", lambda xa: oi(vdx.AveragingKernel(jnp.eye(3), xa, 0.5 * I3)).analyse(XB, Y),
         (NAN3,), ValueError, r"AveragingKernel got a non-finite prior_profile"),
    Case("averaging-kernel-A-nan", lambda a: vdx.AveragingKernel(a, I3, I3), (jnp.eye(3).at[0, 1].set(jnp.nan),),
         ValueError, r"AveragingKernel got a non-finite A"),
    Case("averaging-kernel-prior_profile-shape", lambda xa: vdx.AveragingKernel(jnp.ones((2, 3)), xa, I3), (jnp.ones(4),),
         ValueError, r"prior_profile of shape \(4,\), expected \(3,\)"),
    Case("instrument-empty-name", lambda v: vdx.InstrumentSpec("", H, vdx.diagonal_covariance(v)), (I3,),
         ValueError, r"expected a non-empty string"),
    Case("instrument-duplicate-name", lambda v: vdx.InstrumentRegistry((vdx.InstrumentSpec("a", H, vdx.diagonal_covariance(v)),) * 2),
         (I3,), ValueError, r"instrument name 'a' twice"),
    Case("fusion-unknown-mask", lambda x: vdx.MultiInstrumentFusion([vdx.InstrumentSpec("a", H, B3)])(x, mask={"b": jnp.ones(3, bool)}),
         (XB,), ValueError, r"mask for unknown instrument\(s\) \['b'\]"),
    # forward models, rollout, window
    Case("lorenz63-negative-dt", lambda dt: vdx.Lorenz63(dt=dt), (jnp.array(-0.01),), ValueError, r"Lorenz63 got dt=.*expected a finite value > 0"),
    Case("lorenz63-nan-sigma", lambda s: vdx.Lorenz63(sigma=s), (jnp.array(jnp.nan),), ValueError, r"Lorenz63 got sigma=.*expected a finite value"),
    Case("lorenz96-n-3", lambda x: vdx.Lorenz96(n=3), (XB,), ValueError, r"Lorenz96 got n=3, expected an integer >= 4"),
    Case("lorenz96-n-float", lambda x: vdx.Lorenz96(n=40.0), (XB,), ValueError, r"Lorenz96 got n=40.0, expected an integer >= 4"),
    Case("lorenz96-inf-F", lambda f: vdx.Lorenz96(F=f), (jnp.array(jnp.inf),), ValueError, r"Lorenz96 got F=.*expected a finite value"),
    Case("two-level-K-2", lambda x: vdx.Lorenz96TwoLevel(K=2), (XB,), ValueError, r"K=2, expected an integer >= 4"),
    Case("advection-negative-kappa", lambda k: vdx.AdvectionDiffusion(kappa=k), (jnp.array(-0.1),),
         ValueError, r"kappa=.*expected a finite value >= 0"),
    Case("advection-zero-length", lambda L: vdx.AdvectionDiffusion(length=L), (jnp.array(0.0),),
         ValueError, r"length=.*expected a finite value > 0"),
    Case("linear-model-complex", lambda x: vdx.LinearModel(jnp.eye(3) * (1 + 1j)), (XB,), TypeError,
         r"LinearModel got a complex matrix"),
    Case("twin-blows-up", lambda x: vdx.generate_problem(vdx.Lorenz63(dt=0.5), key=jax.random.key(0), n_times=40, x0=x, spin_up=0).truth,
         (jnp.array([1.0, 2.0, 30.0]),), ValueError, r"generate_problem: the model blew up \(a non-finite truth state\)"),
    Case("twin-blows-up-background", lambda x: vdx.generate_problem(vdx.Lorenz63(dt=0.5), key=jax.random.key(0), n_times=40, x0=x, spin_up=0).background,
         (jnp.array([1.0, 2.0, 30.0]),), ValueError, r"generate_problem: the model blew up \(a non-finite truth state\)"),
    Case("step-state-shape", lambda x: L63.step(x), (jnp.ones(4),), ValueError, r"Lorenz63.step got state of shape \(4,\), expected \(3,\)"),
    Case("step-negative-dt", lambda dt: L63.step(XB, dt), (jnp.array(-0.1),), ValueError, r"Lorenz63.step got dt=.*expected a finite value > 0"),
    Case("rollout-zero-steps", lambda x: vdx.rollout(L63, x, 0), (XB,), ValueError, r"rollout got n_steps=0, expected an integer >= 1"),
    Case("rollout-float-steps", lambda x: vdx.rollout(L63, x, 2.5), (XB,), ValueError, r"n_steps=2.5, expected an integer >= 1"),
    Case("rollout-x0-shape", lambda x: vdx.rollout(L63, x, 2), (jnp.ones(4),), ValueError, r"rollout got x0 of shape \(4,\), expected \(3,\)"),
    Case("rollout-x0-nan", lambda x: vdx.rollout(L63, x, 2), (NAN3,), ValueError, r"rollout got a non-finite x0"),
    Case("rollout-negative-dt", lambda dt: vdx.rollout(L63, XB, 2, dt), (jnp.array(-0.1),), ValueError, r"rollout got dt=.*> 0"),
    Case("rollout-not-a-model", lambda x: vdx.rollout(lambda s: s, x, 2), (XB,), TypeError, r"expected a ForwardModel"),
    Case("window-zero-times", lambda x: vdx.window(L63, x, 0), (XB,), ValueError, r"window got n_times=0, expected an integer >= 1"),
    Case("window-x0-shape", lambda x: vdx.window(L63, x, 3), (jnp.ones(2),), ValueError, r"window got x0 of shape \(2,\), expected \(3,\)"),
    Case("window-bad-adjoint", lambda x: vdx.window(L63, x, 3, "backsolve"), (XB,), TypeError, r"adjoint of type str"),
    # twin experiments and batches
    Case("problem-zero-times", lambda k: vdx.generate_problem(L63, key=k, n_times=0), (jax.random.key(0),),
         ValueError, r"n_times=0, expected an integer >= 1"),
    Case("problem-zero-obs-std", lambda s: vdx.generate_problem(L63, key=jax.random.key(0), n_times=3, obs_std=s, spin_up=0),
         (jnp.array(0.0),), ValueError, r"obs_std=.*expected a finite value > 0"),
    Case("problem-fraction-above-1", lambda f: vdx.generate_problem(L63, key=jax.random.key(0), n_times=3, obs_fraction=f, spin_up=0),
         (jnp.array(1.5),), ValueError, r"obs_fraction=.*expected a value in \[0, 1\]"),
    Case("problem-mask-shape", lambda m: vdx.generate_problem(L63, key=jax.random.key(0), n_times=3, mask=m, spin_up=0),
         (jnp.ones((2, 3), bool),), ValueError, r"mask of shape \(2, 3\), expected \(3, 3\)"),
    Case("batch-nan-observed", lambda x: vdx.Batch1D(x, jnp.ones((1, 2, 3), bool)), (jnp.zeros((1, 2, 3)).at[0, 1, 2].set(jnp.nan),),
         ValueError, r"Batch1D got a non-finite obs where mask marks it observed"),
    Case("batch-2d-input", lambda x: vdx.Batch1D(x, jnp.ones((2, 3), bool)), (jnp.zeros((2, 3)),),
         ValueError, r"input of shape \(2, 3\), expected a 3-D array"),
    Case("metrics-shapes", lambda a: vdx.rmse(a, jnp.zeros(4)), (jnp.zeros(3),), ValueError, r"estimate of shape \(3,\) and truth of shape \(4,\)"),
    Case("metrics-complex", lambda a: vdx.rmse(a, jnp.zeros(3)), (jnp.zeros(3) * (1 + 1j),), TypeError, r"rmse got a complex estimate"),
    Case("metrics-empty", lambda a: vdx.bias(a, jnp.zeros((0, 3))), (jnp.zeros((0, 3)),), ValueError, r"bias got empty arrays \(shape \(0, 3\)\)"),
    # optimal interpolation
    Case("oi-obs-shape", lambda y: oi().analyse(XB, y), (jnp.ones(5),), ValueError, r"obs of shape \(5,\), expected \(3,\)"),
    Case("oi-background-shape", lambda x: oi().analyse(x, Y), (jnp.ones(2),), ValueError, r"background of shape \(2,\), expected \(3,\)"),
    Case("oi-mask-shape", lambda y: oi().analyse(XB, y, jnp.ones(2, bool)), (Y,), ValueError, r"mask of shape \(2,\), expected \(3,\)"),
    Case("oi-nan-observed", lambda y: oi().analyse(XB, y, jnp.ones(3, bool)), (NAN3,), ValueError,
         r"non-finite obs where mask marks it observed"),
    Case("oi-nan-background", lambda x: oi().analyse(x, Y), (NAN3,), ValueError, r"OptimalInterpolation got a non-finite background"),
    Case("oi-nonlinear-H", lambda x: oi(Cube()).analyse(x, Y), (XB,), TypeError, r"obs_op = Cube, which is not linear.*ThreeDVar"),
    Case("oi-untagged-B", lambda x: oi(B=lx.MatrixLinearOperator(jnp.eye(3))).analyse(x, Y), (XB,), TypeError,
         r"prior_cov = MatrixLinearOperator without the positive-semidefinite tag"),
    Case("oi-raw-R", lambda x: oi(R=np.eye(3)).analyse(x, Y), (XB,), TypeError, r"obs_cov of type ndarray, expected a lineax operator"),
    Case("oi-H-and-R-disagree", lambda x: oi(vdx.LinearObs(jnp.ones((2, 3)))).analyse(x, Y), (XB,), ValueError,
         r"obs_op maps the state to shape \(2,\)"),
    Case("oi-negative-variance", lambda v: oi(B=vdx.diagonal_covariance(v)).analyse(XB, Y), (-I3,), ValueError, r"not finite and > 0"),
    Case("oi-not-a-batch", lambda x: oi()(x), (jnp.zeros((1, 1, 3)),), TypeError, r"expected a Batch1D"),
    Case("oi-singular-system", lambda x: oi(B=dense(jnp.zeros((3, 3))), R=dense(jnp.zeros((3, 3)))).analyse(x, Y), (XB,),
         RuntimeError, r"the linear solve for the analysis failed"),
    # 3DVar
    Case("3dvar-singular-B", lambda x: threedvar(B=dense(SINGULAR)).analyse(x, Y), (XB,), ValueError,
         r"ThreeDVar: prior_cov cannot be whitened .*B must be positive definite"),
    Case("3dvar-complex-background", lambda x: threedvar().analyse(x, Y), (XB * (1 + 1j),), TypeError,
         r"ThreeDVar got a complex background"),
    Case("3dvar-indefinite-B", lambda x: threedvar(B=dense(INDEFINITE)).analyse(x, Y), (XB,), ValueError,
         r"ThreeDVar: prior_cov cannot be whitened"),
    Case("3dvar-singular-R", lambda x: threedvar(R=dense(SINGULAR)).analyse(x, Y), (XB,), ValueError,
         r"ThreeDVar: obs_cov cannot be whitened on the observed entries"),
    Case("3dvar-not-converged", lambda x: threedvar(max_steps=1).analyse(x, Y), (XB + 5.0,), RuntimeError,
         r"ThreeDVar: the solver did not converge"),
    Case("3dvar-init-shape", lambda x: threedvar().solve(x, Y, init=jnp.ones(4)), (XB,), ValueError, r"init of shape \(4,\), expected \(3,\)"),
    Case("3dvar-init-nan", lambda i: threedvar().solve(XB, Y, init=i), (NAN3,), ValueError, r"ThreeDVar got a non-finite init"),
    Case("3dvar-max-steps-0", lambda x: threedvar(max_steps=0).analyse(x, Y), (XB,), ValueError, r"max_steps=0, expected an integer >= 1"),
    Case("3dvar-minimiser-str", lambda x: threedvar(minimiser="bfgs").analyse(x, Y), (XB,), TypeError,
         r"minimiser of type str, expected an optimistix minimiser"),
    Case("3dvar-throw-not-bool", lambda x: threedvar(throw="yes").analyse(x, Y), (XB,), TypeError, r"throw='yes', expected True or False"),
    Case("3dvar-kstep-with-bfgs", lambda x: threedvar(minimiser_adjoint=vdx.KStepAdjoint(2)).analyse(x, Y), (XB,), TypeError,
         r"KStepAdjoint cannot differentiate the default BFGS"),
    Case("3dvar-onestep-with-nonlinear-cg",
         lambda x: threedvar(minimiser=optx.NonlinearCG(1e-6, 1e-6), minimiser_adjoint=vdx.OneStepAdjoint()).analyse(x, Y),
         (XB,), TypeError, r"OneStepAdjoint cannot differentiate NonlinearCG"),
    Case("3dvar-adjoint-not-optimistix", lambda x: threedvar(minimiser_adjoint="implicit").analyse(x, Y), (XB,), TypeError,
         r"minimiser_adjoint of type str"),
    Case("kstep-k-0", lambda x: vdx.KStepAdjoint(0), (XB,), ValueError, r"k=0, expected an integer >= 1"),
    # 4DVar family
    Case("strong-singular-B", lambda x: strong(B=dense(SINGULAR)).analyse(x, WIN), (XB,), ValueError,
         r"StrongFourDVar: prior_cov cannot be whitened"),
    Case("strong-indefinite-B", lambda x: strong(B=dense(INDEFINITE)).analyse(x, WIN), (XB,), ValueError,
         r"StrongFourDVar: prior_cov cannot be whitened"),
    Case("strong-singular-R", lambda x: strong(R=dense(SINGULAR)).analyse(x, WIN), (XB,), ValueError,
         r"StrongFourDVar: obs_cov cannot be whitened"),
    Case("strong-window-blows-up", lambda x: strong(forward=vdx.Lorenz63(dt=0.5)).analyse(x, jnp.full((40, 3), 100.0)),
         (jnp.array([1.0, 2.0, 30.0]),), FloatingPointError, r"StrongFourDVar: the cost is not finite \(the trajectory"),
    Case("strong-not-converged", lambda x: strong(max_steps=1).analyse(x, WIN), (XB,), RuntimeError,
         r"StrongFourDVar: the solver did not converge"),
    Case("strong-obs-1d", lambda x: strong().analyse(x, Y), (XB,), ValueError, r"obs of shape \(3,\), expected a non-empty window \(T, 3\)"),
    Case("strong-obs-empty", lambda x: strong().analyse(x, jnp.ones((0, 3))), (XB,), ValueError, r"obs of shape \(0, 3\), expected a non-empty window"),
    Case("strong-mask-shape", lambda x: strong().analyse(x, WIN, jnp.ones((2, 3), bool)), (XB,), ValueError,
         r"mask of shape \(2, 3\), expected \(3, 3\)"),
    Case("strong-model-size", lambda x: strong(forward=vdx.Lorenz96()).analyse(x, WIN), (XB,), ValueError,
         r"forward model with states of shape \(40,\), but prior_cov is \(3, 3\)"),
    Case("strong-forward-adjoint-str", lambda x: strong(forward_adjoint="backsolve").analyse(x, WIN), (XB,), TypeError,
         r"forward_adjoint of type str"),
    Case("strong-nan-observed", lambda y: strong().analyse(XB, y, jnp.ones((3, 3), bool)), (WIN.at[1, 1].set(jnp.nan),),
         ValueError, r"StrongFourDVar got a non-finite obs where mask marks it observed"),
    Case("strong-nan-background", lambda x: strong().analyse(x, WIN), (NAN3,), ValueError, r"StrongFourDVar got a non-finite background"),
    Case("strong-forward-not-a-model", lambda x: strong(forward=lambda s: s).analyse(x, WIN), (XB,), TypeError,
         r"forward of type function, expected a ForwardModel"),
    Case("weak-singular-Q", lambda x: vdx.WeakFourDVar(L63, H, B3, R3, dense(SINGULAR)).analyse(x, WIN), (XB,), ValueError,
         r"WeakFourDVar: model_err_cov cannot be whitened .*Q must be positive definite"),
    Case("weak-Q-size", lambda x: vdx.WeakFourDVar(L63, H, B3, R3, vdx.diagonal_covariance(jnp.ones(4))).analyse(x, WIN), (XB,),
         ValueError, r"model_err_cov of shape \(4, 4\), expected \(3, 3\)"),
    Case("incremental-singular-B", lambda x: incremental(B=dense(SINGULAR)).analyse(x, WIN), (XB,), ValueError,
         r"IncrementalFourDVar: prior_cov cannot be whitened"),
    Case("incremental-singular-R", lambda x: incremental(R=dense(SINGULAR)).analyse(x, WIN), (XB,), ValueError,
         r"IncrementalFourDVar: obs_cov cannot be whitened"),
    Case("incremental-cg-breakdown", lambda x: incremental(forward=Persistence(), obs_op=CubeRoot()).analyse(x, WIN), (jnp.array([0.0, 1.0, 2.0]),),
         FloatingPointError, r"IncrementalFourDVar: the inner conjugate-gradient solve broke down"),
    Case("incremental-diverges", lambda x: incremental(forward=Explosive(), n_outer=2).analyse(x, jnp.ones((4, 3))), (jnp.full(3, 5.0),),
         FloatingPointError, r"IncrementalFourDVar: the cost is not finite"),
    Case("incremental-not-converged", lambda x: incremental(n_outer=1).analyse(x, jnp.stack([Y, Y, Y])), (XB + 3.0,), RuntimeError,
         r"IncrementalFourDVar: the solver did not converge"),
    Case("incremental-n-outer-0", lambda x: incremental(n_outer=0).analyse(x, WIN), (XB,), ValueError, r"n_outer=0, expected an integer >= 1"),
    Case("incremental-negative-cg-tol", lambda t: incremental(cg_tol=t).analyse(XB, WIN), (jnp.array(-1e-8),), ValueError,
         r"IncrementalConfig got cg_tol=.*> 0"),
    Case("incremental-config-type", lambda x: vdx.IncrementalFourDVar(L63, H, B3, R3, {"n_outer": 2}).analyse(x, WIN), (XB,),
         TypeError, r"config of type dict, expected IncrementalConfig"),
    # analysis steps
    Case("step-not-a-method", lambda x: vdx.MethodAnalysisStep(lambda f, y: f)(x, Y, obs_op=H, obs_err_cov=R3), (XB,), TypeError,
         r"MethodAnalysisStep got function, expected an assimilation method"),
    Case("step-oi-nonlinear-H", lambda x: oi().as_analysis_step()(x, Y, obs_op=Cube(), obs_err_cov=R3), (XB,), TypeError,
         r"not linear"),
    Case("step-singular-R", lambda x: threedvar().as_analysis_step()(x, Y, obs_op=H, obs_err_cov=dense(SINGULAR)), (XB,),
         ValueError, r"ThreeDVar: obs_cov cannot be whitened"),
]

RUNTIME_ERRORS = (jax.errors.JaxRuntimeError, eqx.EquinoxRuntimeError)


def _arrays_only(fn):
    return lambda *args: eqx.filter(fn(*args), eqx.is_array)


def run(case: Case, mode: str):
    if mode == "e":
        return case.fn(*case.args)
    if mode == "j":
        return jax.block_until_ready(jax.jit(_arrays_only(case.fn))(*case.args))
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), case.args)
    return jax.block_until_ready(jax.vmap(_arrays_only(case.fn))(*stacked))


def _mode_names(case):
    if not case.args:
        return case.modes.replace("v", "")
    if any(isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key) for a in case.args):
        return case.modes.replace("v", "")  # a PRNG key is not stacked
    return case.modes


PARAMS = [pytest.param(case, mode, id=f"{case.name}-{mode}") for case in CASES for mode in _mode_names(case)]


@pytest.mark.parametrize("case, mode", PARAMS)
def test_bad_input_is_refused_with_a_clear_message(case, mode):
    allowed = (case.error,) if mode == "e" else (case.error,) + RUNTIME_ERRORS
    with pytest.raises(Exception) as info:
        run(case, mode)
    assert isinstance(info.value, allowed), f"{case.name} [{mode}] raised {type(info.value).__name__}: {info.value}"
    assert re.search(case.match, str(info.value)), f"{case.name} [{mode}] message: {info.value}"


def test_there_are_at_least_sixty_cases_and_names_are_unique():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) and len(CASES) >= 60


def case_table() -> str:
    return "\n".join(f"| {c.name} | {c.error.__name__} | {_mode_names(c)} |" for c in CASES)


def test_docstring_table_lists_every_case():
    """The table in this module's docstring is the list of cases (regenerate it with `case_table()`)."""
    assert __doc__ is not None
    rows = [line for line in __doc__.splitlines() if line.startswith("| ") and not line.startswith("| case ")]
    assert "\n".join(rows) == case_table()


def test_what_a_user_sees_under_jit(caplog):
    """Plain `jax.jit`: JAX logs the callback's exception first (its last line is the message)
    and raises a JaxRuntimeError containing it; `eqx.filter_jit`: an EquinoxRuntimeError whose
    text is the stack inside JIT, then a line with the message."""
    f = lambda v: oi(B=vdx.diagonal_covariance(v)).analyse(XB, Y)  # noqa: E731
    message = "diagonal_covariance got a variance that is not finite and > 0"
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(f)(-I3))
    assert message in str(info.value)
    logged = [r for r in caplog.records if r.getMessage() == "jax.pure_callback failed"]
    assert logged, "JAX did not log the failed callback"
    text = caplog.text.splitlines()
    first = next(i for i, line in enumerate(text) if message in line)
    assert first < 15, text[: first + 1]
    with pytest.raises(eqx.EquinoxRuntimeError) as info:
        jax.block_until_ready(eqx.filter_jit(f)(-I3))
    assert any(line.startswith(f"equinox.EquinoxRuntimeError: {message}") for line in str(info.value).splitlines())
