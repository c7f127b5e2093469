"""Figure of the phase occupancy against ``n`` (log axis) with the theoretical crossings."""

from __future__ import annotations

__all__ = ["plot_occupancy"]

from typing import Sequence

import numpy as np


def plot_occupancy(rows: Sequence[dict], *, features: int, theory: Sequence[dict] = (),
                   observed: Sequence[dict] = (), min_fraction: float = 0.05, title: str | None = None,
                   raw: Sequence[dict] = (), refined: Sequence[dict] = ()):
    """Phase fractions with 95% bootstrap bands against ``n``.

    Parameters
    ----------
    rows : sequence of dict
        Rows of :func:`bayes_tms.occupancy_table` (``n, phase, fraction, lower, upper``).
    theory : sequence of dict
        Theory dominant intervals (``comparisons.theory.dominant_intervals``); their boundaries are
        drawn as dashed vertical lines labelled ``a -> b``.
    observed : sequence of dict
        Observed transitions (:func:`bayes_tms.transitions`), drawn as shaded intervals.
    min_fraction : float
        Phases whose fraction never reaches this are not drawn.
    raw : sequence of dict, optional
        Plain draw fractions (same columns), drawn as thin dashed lines for comparison.
    refined : sequence of dict, optional
        ``{"from", "to", "n"}`` crossings of the free energies with their O(1) terms, drawn as
        dotted red vertical lines.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    phases = sorted({r["phase"] for r in rows})
    shown = [p for p in phases if max(r["fraction"] for r in rows if r["phase"] == p) >= min_fraction]
    for p in shown:
        rr = sorted((r for r in rows if r["phase"] == p), key=lambda r: r["n"])
        n = np.array([r["n"] for r in rr])
        f = np.array([r["fraction"] for r in rr])
        line, = ax.plot(n, f, marker="o", ms=3, label=p, ls=":" if p == "unclassified" else "-")
        ax.fill_between(n, [r["lower"] for r in rr], [r["upper"] for r in rr], alpha=0.2,
                        color=line.get_color())
        rw = sorted((r for r in raw if r["phase"] == p), key=lambda r: r["n"])
        if rw:
            ax.plot([r["n"] for r in rw], [r["fraction"] for r in rw], ls="--", lw=0.8,
                    color=line.get_color(), alpha=0.7)
    for a, b in zip(theory[:-1], theory[1:]):
        ax.axvline(a["n_to"], color="k", ls="--", lw=0.8)
        ax.text(a["n_to"], 1.01, f"{a['phase']}→{b['phase']}", rotation=90, va="bottom", ha="center",
                fontsize=7, transform=ax.get_xaxis_transform())
    for t in refined:
        ax.axvline(t["n"], color="C3", ls=":", lw=1.2)
        ax.text(t["n"], 1.01, f"{t['from']}→{t['to']} (O(1))", rotation=90, va="bottom", ha="center",
                fontsize=7, color="C3", transform=ax.get_xaxis_transform())
    for t in observed:
        ax.axvspan(t["lower"], t["upper"], color="grey", alpha=0.12)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("n (training samples, log scale)")
    ns = [r["n"] for r in rows]
    ticks = [t for t in (50, 100, 200, 300, 500, 700, 1000, 1500, 2000, 3000) if min(ns) * 0.8 <= t <= max(ns) * 1.25]
    ax.set_xticks(ticks, [str(t) for t in ticks])  # plain numbers, not 2 x 10^2
    ax.minorticks_off()
    ax.set_ylabel("posterior mass (dashed: raw draw fraction)" if raw else "fraction of posterior draws")
    ax.set_title(title or f"TMS posterior phase occupancy, c = {features} (95% bootstrap over chains)",
                 fontsize=9, pad=48)
    ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig
