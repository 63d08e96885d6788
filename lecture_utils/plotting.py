"""The course's plot style and the few plotting helpers every section shares."""

from __future__ import annotations

import matplotlib
import numpy as np

COURSE_RC = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
    # Fixed fonts and no metadata keep the saved figures byte-stable between runs.
    "svg.hashsalt": "lecture",
}


def use_course_style() -> None:
    """Apply the course's matplotlib settings (called by lecture_utils.setup())."""
    matplotlib.rcParams.update(COURSE_RC)


def plot_mean_std(ax, x, runs, label: str | None = None, color=None, opacity: float = 0.2):
    """Plot the mean of `runs` (shape [n_seeds, len(x)]) with a +-1 std band; returns the line."""
    runs = np.asarray(runs, dtype=float)
    x = np.asarray(x)
    if runs.ndim == 1:
        runs = runs[None, :]
    if runs.ndim != 2 or runs.shape[1] != x.shape[0]:
        raise ValueError(f"runs must have shape [n_seeds, {x.shape[0]}] to match x, got {runs.shape}")
    mean, std = runs.mean(axis=0), runs.std(axis=0)
    (line,) = ax.plot(x, mean, label=label, color=color)
    if runs.shape[0] > 1:
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=opacity, linewidth=0)
    return line
