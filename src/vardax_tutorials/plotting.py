"""The few figure helpers every part of the book reuses.

One visual vocabulary throughout: truth is a black line, observations are
hollow markers, the background is dashed, the analysis is solid in the first
colour, and $\\pm\\sigma$ is a shaded band. Axis labels are lowercase.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

__all__ = ["STYLE", "plot_covariance_ellipse", "plot_hovmoller", "plot_time_series"]

STYLE: dict[str, dict[str, Any]] = {
    "truth": dict(color="black", lw=1.5, label="truth"),
    "obs": dict(ls="none", marker="o", mfc="none", mec="C3", ms=4, label="observations"),
    "background": dict(color="C7", ls="--", lw=1.2, label="background"),
    "analysis": dict(color="C0", lw=1.8, label="analysis"),
}


def plot_time_series(
    ax: plt.Axes | None = None,
    t: Any = None,
    *,
    truth: Any = None,
    obs: Any = None,
    background: Any = None,
    analysis: Any = None,
    std: Any = None,
    xlabel: str = "time",
    ylabel: str = "",
    legend: bool = True,
) -> plt.Axes:
    """Plot any of truth / observations / background / analysis ($\\pm$`std` band) against `t`.

    Each series is a 1-D array of the same length as `t`; NaN observations
    (missing) are simply not drawn.
    """
    ax = plt.gca() if ax is None else ax
    series = [s for s in (truth, obs, background, analysis) if s is not None]
    if t is None:
        t = np.arange(len(np.asarray(series[0])))
    t = np.asarray(t)
    if truth is not None:
        ax.plot(t, np.asarray(truth), **STYLE["truth"])
    if background is not None:
        ax.plot(t, np.asarray(background), **STYLE["background"])
    if analysis is not None:
        a = np.asarray(analysis)
        ax.plot(t, a, **STYLE["analysis"])
        if std is not None:
            s = np.asarray(std)
            ax.fill_between(t, a - s, a + s, color="C0", alpha=0.2, lw=0, label=r"$\pm\sigma$")
    if obs is not None:
        ax.plot(t, np.asarray(obs), **STYLE["obs"])
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if legend:
        ax.legend(frameon=False, fontsize="small")
    return ax


def plot_covariance_ellipse(
    ax: plt.Axes | None,
    mean: Any,
    cov: Any,
    *,
    n_std: float = 2.0,
    **kwargs: Any,
) -> Ellipse:
    """Draw the `n_std`-sigma ellipse of a 2-D Gaussian $N(\\mu, \\Sigma)$.

    The axes are the eigenvectors of $\\Sigma$ with half-lengths
    `n_std` $\\sqrt{\\lambda_i}$.
    """
    ax = plt.gca() if ax is None else ax
    cov = np.asarray(cov, dtype=float)
    if cov.shape != (2, 2):
        raise ValueError(f"plot_covariance_ellipse got cov of shape {cov.shape}, expected (2, 2).")
    vals, vecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
    width, height = 2 * n_std * np.sqrt(np.maximum(vals[::-1], 0.0))
    kwargs.setdefault("fill", False)
    ell = Ellipse(np.asarray(mean, dtype=float), width, height, angle=angle, **kwargs)
    ax.add_patch(ell)
    ax.autoscale_view()
    return ell


def plot_hovmoller(
    ax: plt.Axes | None,
    field: Any,
    t: Any = None,
    *,
    cmap: str = "RdBu_r",
    symmetric: bool = True,
    colorbar: bool = True,
    label: str = "",
) -> Any:
    """Time × space image of a `(T, N)` field (time upwards, space to the right)."""
    ax = plt.gca() if ax is None else ax
    f = np.asarray(field)
    if f.ndim != 2:
        raise ValueError(f"plot_hovmoller got field of shape {f.shape}, expected (T, N).")
    t = np.arange(f.shape[0]) if t is None else np.asarray(t)
    vmax = float(np.nanmax(np.abs(f))) if symmetric else None
    im = ax.pcolormesh(
        np.arange(f.shape[1] + 1) - 0.5,
        np.concatenate([t, t[-1:] + (t[-1] - t[-2] if len(t) > 1 else 1)]),
        f,
        cmap=cmap,
        vmin=-vmax if symmetric else None,
        vmax=vmax,
        shading="flat",
    )
    ax.set_xlabel("variable index")
    ax.set_ylabel("time")
    if colorbar:
        plt.colorbar(im, ax=ax, label=label)
    return im
