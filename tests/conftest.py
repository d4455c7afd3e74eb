"""Test configuration: float64 by default, strict rank promotion, seeded keys, shape checking.

Every annotated function and module of `vardax_tutorials` is checked at run time
by jaxtyping (with beartype): the shapes and dtypes in the signatures are
enforced in the tests, not only documented. The hook must be installed before
the package is first imported, hence here, before any test module imports it.
"""

import os

# The notebooks' set-up cell uses XLA's older CPU code generator too: it compiles the
# many small programs of the tests faster (set before JAX creates its CPU backend).
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=false")

import jax  # noqa: E402
import jaxtyping  # noqa: E402

jaxtyping.install_import_hook(["vardax_tutorials"], "beartype.beartype")

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def library_messages():
    """Switch jaxtyping's checks off, for tests of the library's own error messages (what users see)."""
    jaxtyping.config.update("jaxtyping_disable", True)
    yield
    jaxtyping.config.update("jaxtyping_disable", False)


@pytest.fixture
def getkey():
    """A callable returning a fresh, deterministic PRNG key at each call."""
    state = {"key": jr.key(5678)}

    def _getkey():
        state["key"], sub = jr.split(state["key"])
        return sub

    return _getkey


def tree_allclose(a, b, *, rtol=1e-10, atol=1e-10):
    """True when two pytrees have the same structure and allclose leaves."""
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    return ta == tb and all(
        np.allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol) for x, y in zip(la, lb)
    )


def random_spd(key, n, *, cond=10.0, dtype=jnp.float64):
    """A random symmetric positive-definite matrix with condition number `cond`."""
    q, _ = jnp.linalg.qr(jr.normal(key, (n, n), dtype))
    eig = jnp.logspace(0.0, jnp.log10(cond), n, dtype=dtype)
    return (q * eig[None, :]) @ q.T
