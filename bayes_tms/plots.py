"""Figure of the phase occupancy against ``n`` (log axis) with the theoretical crossings."""

from __future__ import annotations

__all__ = ["plot_occupancy"]

from typing import Sequence

import numpy as np


def _cells(occ) -> dict:
    """Phase -> (n, fraction, lower, upper) arrays of the first estimator, cells it reports only."""
    if occ is None:
        return {}
    one = occ.isel(estimator=0) if "estimator" in occ.dims else occ
    ns = one["n"].values
    out = {}
    for p in one["phase"].values:
        cell = one.sel(phase=p)
        ok = np.isfinite(cell["fraction"].values)
        if ok.any():
            out[str(p)] = tuple(np.asarray(v)[ok] for v in (ns, cell["fraction"].values, cell["lower"].values,
                                                              cell["upper"].values))
    return out


def plot_occupancy(occ, *, features: int, theory: Sequence[dict] = (),
                   observed=None, min_fraction: float = 0.05, title: str | None = None,
                   raw=None, refined=None):
    """Phase fractions with 95% bootstrap bands against ``n``.

    Parameters
    ----------
    occ : xarray.Dataset
        An occupancy hand-off (:func:`bayes_tms.occupancy_table`,
        :func:`bayes_tms.reweight.reweighted_occupancy`); its first estimator is drawn.
    theory : sequence of dict
        Theory dominant intervals (``comparisons.theory.dominant_intervals``); their boundaries are
        drawn as dashed vertical lines labelled ``a -> b``.
    observed : xarray.Dataset, optional
        Observed transitions (:func:`bayes_tms.transitions`), their ``lower``-``upper`` intervals
        drawn shaded.
    min_fraction : float
        Phases whose fraction never reaches this are not drawn.
    raw : xarray.Dataset, optional
        Plain draw fractions (an occupancy hand-off), drawn as thin dashed lines for comparison.
    refined : xarray.Dataset, optional
        Crossings of the free energies with their O(1) terms (``from``, ``to``, ``n`` over
        ``transition``), drawn as dotted red vertical lines.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    cells, raw_cells = _cells(occ), _cells(raw)
    shown = [p for p in sorted(cells) if cells[p][1].max() >= min_fraction]
    # one colour per phase: the default cycle has 10, and c = 7, 8 show more phases than that
    colours = plt.get_cmap("tab10" if len(shown) <= 10 else "tab20").colors
    for k, p in enumerate(shown):
        n, f, lo, hi = cells[p]
        line, = ax.plot(n, f, marker="o", ms=3, label=p, ls=":" if p == "unclassified" else "-",
                        color=colours[k % len(colours)])
        ax.fill_between(n, lo, hi, alpha=0.2, color=line.get_color())
        if p in raw_cells:
            ax.plot(raw_cells[p][0], raw_cells[p][1], ls="--", lw=0.8, color=line.get_color(), alpha=0.7)
    for a, b in zip(theory[:-1], theory[1:]):
        ax.axvline(a["n_to"], color="k", ls="--", lw=0.8)
        ax.text(a["n_to"], 1.01, f"{a['phase']}→{b['phase']}", rotation=90, va="bottom", ha="center",
                fontsize=7, transform=ax.get_xaxis_transform())
    if refined is not None:
        for a, b, n in zip(*(refined[k].values for k in ("from", "to", "n"))):
            ax.axvline(n, color="C3", ls=":", lw=1.2)
            ax.text(n, 1.01, f"{a}→{b} (O(1))", rotation=90, va="bottom", ha="center",
                    fontsize=7, color="C3", transform=ax.get_xaxis_transform())
    if observed is not None:
        for lo, hi in zip(observed["lower"].values, observed["upper"].values):
            ax.axvspan(lo, hi, color="grey", alpha=0.12)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("n (training samples, log scale)")
    ns = occ["n"].values
    ticks = [t for t in (10, 20, 50, 100, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 7000, 10000, 20000)
             if min(ns) * 0.8 <= t <= max(ns) * 1.25]
    if len(ticks) > 8:  # a ladder over several decades: 1-2-5 ticks, which do not crowd
        ticks = [t for t in ticks if str(t).rstrip("0") in ("1", "2", "5")]
    ax.set_xticks(ticks, [str(t) for t in ticks])  # plain numbers, not 2 x 10^2
    ax.minorticks_off()
    ax.set_ylabel("posterior mass (dashed: raw draw fraction)" if raw is not None else "fraction of posterior draws")
    ax.set_title(title or f"TMS posterior phase occupancy, c = {features} (95% bootstrap over chains)",
                 fontsize=9, pad=48)
    ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig
