"""Figures of the dynamical phases: loss/LLC staircases and plateau loss against plateau LLC."""

from __future__ import annotations

__all__ = ["staircase_figure", "plateau_figure"]

from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from comparisons.theory import enumerate_phases


def _phases_in_range(c: int, lo: float, hi: float):
    return [p for p in enumerate_phases(c) if lo <= p.loss <= hi]


def _run_paths(ds: xr.Dataset) -> dict:
    """Each run's phase path (consecutive labels collapsed), where ``phase`` labels exist."""
    if "phase" not in ds:
        return {}
    lab = ds["phase"].transpose("run", "step").values.astype(str)
    out = {}
    for run, row in zip(ds["run"].values, lab):
        path = [row[0]]
        for v in row[1:]:
            if v != path[-1]:
                path.append(v)
        out[run] = " → ".join(path)
    return out


def _pick_runs(paths: dict, run_vals: list, k: int) -> list:
    """Up to ``k`` runs: one per distinct path, most common paths first, then the rest in order."""
    if not paths:
        return run_vals[:k]
    by_path: dict[str, list] = {}
    for run in run_vals:
        by_path.setdefault(paths[run], []).append(run)
    order = sorted(by_path, key=lambda p: -len(by_path[p]))
    picked = [by_path[p][0] for p in order][:k]
    return picked + [r for r in run_vals if r not in picked][:k - len(picked)]


def staircase_figure(ds: xr.Dataset, runs: Sequence[int] | None = None, max_runs: int = 4):
    """Loss (top) and LLC (bottom) against step for a few runs; k-gon loss levels as labelled lines.

    The step axis is logarithmic from the first checkpoint after initialisation (the initial
    point is left out rather than drawn at step 1). Without ``runs``, one run per distinct phase
    path is shown (most common paths first), and each run is labelled with its path when the
    Dataset carries ``phase`` labels (:func:`sgd_tms.label_checkpoints`).

    Returns a matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    run_vals = list(ds["run"].values)
    paths = _run_paths(ds)
    runs = list(runs) if runs is not None else _pick_runs(paths, run_vals, max_runs)
    has_llc = "llc" in ds
    fig, axes = plt.subplots(2 if has_llc else 1, 1, figsize=(8, 7 if has_llc else 4), sharex=True,
                             squeeze=False)
    ax = axes[0, 0]
    steps = ds["step"].values
    keep = steps > 0
    x = steps[keep]
    loss = ds["loss"].sel(run=runs).values[:, keep]
    pop = ds["population_loss"].sel(run=runs).values[:, keep] if "population_loss" in ds else None
    for i, run in enumerate(runs):
        label = f"run {run}" + (f": {paths[run]}" if run in paths else "")
        line, = ax.plot(x, loss[i], lw=1.2, label=label)
        if pop is not None:
            ax.plot(x, pop[i], lw=0.8, ls=":", color=line.get_color())
    both = loss if pop is None else np.concatenate([loss, pop])
    lo, hi = np.nanmin(both), np.nanmax(both)
    pad = 0.1 * (hi - lo + 1e-3)
    for p in _phases_in_range(ds.sizes["feature"], lo - pad, hi + pad):
        ax.axhline(p.loss, color="0.6", lw=0.6, ls="--")
        ax.text(x[-1], p.loss, f" {p.label}", va="center", fontsize=7, color="0.3")
    ax.set_xscale("log")
    ax.set_ylabel("loss: $L_n$ (solid), population $L$ (dotted)")
    ax.legend(fontsize=7, loc="lower left", title=f"{len(runs)} of {len(run_vals)} runs", title_fontsize=7)
    ax.set_title("SGD trajectories: loss plateaus at k-gon levels" + (" and LLC" if has_llc else ""))
    if has_llc:
        ax2 = axes[1, 0]
        llc = ds["llc"].sel(run=runs).values[:, keep]
        for i in range(len(runs)):
            ax2.plot(x, llc[i], lw=1.0)
        ax2.set_ylabel(r"$\hat\lambda$ (LLC)")
        ax2.set_xscale("log")
    axes[-1, 0].set_xlabel(f"SGD step (log scale, from the first checkpoint after initialisation, step {x[0]})"
                           if x.size else "SGD step")
    fig.tight_layout()
    return fig


def plateau_figure(seq: pd.DataFrame, c: int):
    """Plateau loss against plateau LLC for all runs, with each enumerated phase marked.

    Phases with a theoretical LLC (C^2 points) are drawn as black stars at ``(L, llc)``; wall
    phases (no closed-form LLC) as open triangles at their Hessian-rank bound ``llc_bound``.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    labels = sorted(set(seq["phase"]), key=lambda s: (-len(s), s))
    cmap = plt.get_cmap("tab10")
    for i, lab in enumerate(labels):
        d = seq[seq["phase"] == lab]
        ax.scatter(d["loss"], d["llc"], s=14, alpha=0.6, color=cmap(i % 10), label=f"plateau {lab}")
    lo = float(seq["loss"].min()) if len(seq) else 0.0
    hi = float(seq["loss"].max()) if len(seq) else 0.3
    pad = 0.15 * (hi - lo + 1e-3)
    for p in _phases_in_range(c, lo - pad, hi + pad):
        if p.llc is not None:
            ax.scatter([p.loss], [p.llc], marker="*", s=120, color="k", zorder=3)
        else:
            ax.scatter([p.loss], [p.llc_bound], marker="^", s=50, facecolors="none",
                       edgecolors="k", zorder=3)
        ax.annotate(p.label, (p.loss, p.llc if p.llc is not None else p.llc_bound),
                    textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("plateau loss $L_n$")
    ax.set_ylabel(r"plateau $\hat\lambda$")
    ax.set_title("Lower-loss plateaus carry higher LLC\n(stars: theory llc; triangles: rank/2 bound on walls)")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
