"""Wall-clock timing shared by the benchmark scripts."""

import time

import jax


def first_and_best(fn, *args, repeats=5):
    """`(output, first, best)`: the time of the first call (compilation included) and the best of `repeats` more."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return out, first, best
