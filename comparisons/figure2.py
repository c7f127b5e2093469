"""The paper's Figure 2, reproduced: three panels of phase occupancy on one data set and one n grid.

The paper (Chen et al. 2023, Figure 2) shows the fraction of NUTS draws in each k-gon phase
against ``n`` and reports the 5 -> 6 change of the dominant phase between n = 600 and 700. The
three panels tell where that switch comes from:

- (a) the paper's protocol: NUTS chains started from the prior at each ``n``, raw draw fractions,
  the hull classifier, the authors' Gaussian sigma = 1 likelihood (``beta = 1/2`` here);
- (b) the true posterior under the same convention, by replica exchange;
- (c) the theory's convention (``beta = 1``), by replica exchange.

Each panel carries its own free-energy predictions of the switch (asymptotic, and with the O(1)
terms) at its ``beta`` and its measured switch with a 95% bootstrap interval.

This module is pure: it builds and reads the ``figure2`` Dataset (:func:`figure2_dataset`,
contract :data:`comparisons.contracts.FIGURE2`), computes the verdicts from it
(:func:`figure2_verdicts` and the functions it joins), draws it (:func:`plot_figure2`, returned,
not written) and lays it out as Markdown (:func:`figure2_markdown`). The job that samples and
writes ``figure2.nc`` is :mod:`comparisons.jobs.figure2`; no engine is imported here.
"""

from __future__ import annotations

__all__ = ["PANELS", "CONVENTION_TEXT", "figure2_caption", "SAMPLER_TEXT", "ESTIMATOR_TEXT", "figure2_dataset", "panel_switch",
           "intervals_overlap", "fraction_gap", "paper_switch_verdict", "convention_verdict",
           "prediction_verdict", "nuts_gap_verdict", "figure2_verdicts", "switch_table", "beta_text",
           "panel_title", "plot_figure2", "figure2_markdown", "set_n_ticks"]

import math
from fractions import Fraction
from typing import Any, Mapping

import numpy as np
import xarray as xr

#: the panels, in order: the paper's protocol, the true posterior under its convention, the theory's
PANELS = ("a", "b", "c")
#: likelihood conventions (the names of :data:`comparisons.jobs.bayes_pt.CONVENTIONS`) in words
CONVENTION_TEXT = {"gaussian-sigma1": "Gaussian sigma = 1, the paper's code",
                   "tempered": "tempered, the theory's"}
#: samplers in words
SAMPLER_TEXT = {"nuts": "NUTS from the prior at each n", "pt": "replica exchange over the n ladder"}
#: occupancy estimators in words
ESTIMATOR_TEXT = {"raw": "raw draw fractions", "pt": "draw fractions (replicas cross between phases)"}
#: a cell (n, phase) is judged by :func:`fraction_gap` when either panel gives it at least this fraction
MIN_FRACTION = 0.05


def figure2_dataset(panels: Mapping[str, Mapping[str, Any]], *, features: int, seed: int, seed_rule: str,
                    preset: str, command: str, switch: tuple[str, str] = ("5", "6"),
                    attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The ``figure2`` Dataset from the three panels' occupancy hand-offs and switches.

    Parameters
    ----------
    panels : mapping ``"a" | "b" | "c"`` -> panel
        Each panel: ``occupancy`` (an occupancy hand-off, :data:`comparisons.contracts.OCCUPANCY`;
        its first estimator is shown), ``switch`` (the ``switch``
        transition ``{"n", "lower", "upper"}`` or None when the panel has none on its grid),
        ``predicted_asymptotic`` and ``predicted_o1`` (free-energy crossings at the panel's beta;
        None where there is none), ``beta``, and the strings ``sampler``, ``convention``,
        ``classifier``, ``estimator``.
    features, seed : int
        ``c`` and the root seed of the one data set all panels share.
    seed_rule : str
        How the seed gives the data and the samplers' streams (shown under the figure).
    preset : str
        The ``tms-phases reproduce`` preset that made it.
    command : str
        The exact command that regenerates the file.
    switch : (str, str)
        The switch each panel reports (the paper's 5 -> 6).
    attrs : mapping, optional
        Further attributes (``prior_sigma``, ``paper_switch_n``).

    Returns
    -------
    xarray.Dataset
        Dims ``(panel, n, phase)``: ``fraction``, ``lower``, ``upper`` (a phase with no draw at
        an ``n`` has fraction 0 there); over ``panel``: ``switch_n``, ``switch_lower``,
        ``switch_upper``, ``predicted_asymptotic``, ``predicted_o1`` (NaN where absent),
        ``beta`` and the labels ``sampler``, ``convention``, ``classifier``, ``estimator``.
        Validated by :func:`comparisons.contracts.validate_figure2`.
    """
    from .contracts import ContractError, validate_figure2

    if sorted(panels) != list(PANELS):
        raise ContractError(f"figure2: expected panels {list(PANELS)}, got {sorted(panels)}")
    occs = {p: panels[p]["occupancy"].isel(estimator=0) for p in PANELS}
    seen = {p: np.isfinite(occs[p]["fraction"].values) for p in PANELS}  # (n, phase): cells reported
    grids = {p: [int(n) for n, ok in zip(occs[p]["n"].values, seen[p].any(axis=1)) if ok] for p in PANELS}
    if len({tuple(g) for g in grids.values()}) != 1:
        raise ContractError(f"figure2: expected the same n grid in every panel, got {grids}")
    ns = grids["a"]
    phases = sorted({str(ph) for p in PANELS for ph, ok in zip(occs[p]["phase"].values, seen[p].any(axis=0)) if ok},
                    key=_phase_key)
    data = {k: np.stack([occs[p][k].where(np.isfinite(occs[p]["fraction"]), 0.0).reindex(n=ns, phase=phases,
                                                                                           fill_value=0.0).values
                         for p in PANELS]).astype(float) for k in ("fraction", "lower", "upper")}

    def per_panel(get) -> np.ndarray:
        return np.array([_num(get(panels[p])) for p in PANELS], dtype=float)

    sw = {p: panels[p].get("switch") or {} for p in PANELS}
    dims = ("panel", "n", "phase")
    ds = xr.Dataset(
        {**{k: (dims, v) for k, v in data.items()},
         "switch_n": (("panel",), np.array([_num(sw[p].get("n")) for p in PANELS])),
         "switch_lower": (("panel",), np.array([_num(sw[p].get("lower")) for p in PANELS])),
         "switch_upper": (("panel",), np.array([_num(sw[p].get("upper")) for p in PANELS])),
         "predicted_asymptotic": (("panel",), per_panel(lambda q: q.get("predicted_asymptotic"))),
         "predicted_o1": (("panel",), per_panel(lambda q: q.get("predicted_o1"))),
         "beta": (("panel",), per_panel(lambda q: q["beta"])),
         **{k: (("panel",), np.array([str(panels[p][k]) for p in PANELS], dtype=str))
            for k in ("sampler", "convention", "classifier", "estimator")}},
        coords={"panel": np.array(PANELS, dtype=str), "n": np.array(ns, dtype=np.int64),
                "phase": np.array(phases, dtype=str)},
        attrs={"features": int(features), "seed": int(seed), "seed_rule": str(seed_rule), "preset": str(preset),
               "command": str(command), "switch_from": str(switch[0]), "switch_to": str(switch[1]),
               **dict(attrs or {})})
    return validate_figure2(ds)


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def _phase_key(label: str) -> tuple:
    """Phases ordered by their k-gon family, then label (``unclassified`` last)."""
    head = "".join(ch for ch in label if ch.isdigit())
    return (label == "unclassified", -int(head) if head else 0, label)


# --- verdicts: pure functions of the Dataset, each sentence with its numbers ------------------------


def panel_switch(ds: xr.Dataset, panel: str) -> dict:
    """One panel's switch and predictions: ``{"n", "lower", "upper", "asymptotic", "o1", "beta"}``.

    ``n``, ``lower``, ``upper`` are None when the panel shows no switch on its grid; the
    predictions None where the free energies do not cross.
    """
    s = ds.sel(panel=panel)

    def get(name):
        v = float(s[name])
        return v if math.isfinite(v) else None

    return {"n": get("switch_n"), "lower": get("switch_lower"), "upper": get("switch_upper"),
            "asymptotic": get("predicted_asymptotic"), "o1": get("predicted_o1"), "beta": float(s["beta"])}


def intervals_overlap(a: Mapping, b: Mapping) -> bool | None:
    """Do the switch intervals ``[lower, upper]`` of two :func:`panel_switch` results overlap? None
    when either panel has no switch."""
    if a["n"] is None or b["n"] is None:
        return None
    return a["lower"] <= b["upper"] and b["lower"] <= a["upper"]


def beta_text(beta: float) -> str:
    """``0.5 -> "1/2"``, ``1.0 -> "1"``: beta as the paper's readers know it."""
    f = Fraction(float(beta)).limit_denominator(16)
    return str(f) if abs(float(f) - beta) < 1e-9 else f"{beta:g}"


def _switch_name(ds: xr.Dataset) -> str:
    return f"{ds.attrs.get('switch_from', '5')} -> {ds.attrs.get('switch_to', '6')}"


def _at(s: Mapping) -> str:
    return "no switch on the grid" if s["n"] is None else f"n = {s['n']:.0f} [{s['lower']:.0f}, {s['upper']:.0f}]"


def _inside(v: float | None, s: Mapping) -> str:
    if v is None:
        return "no crossing"
    if s["n"] is None:
        return f"{v:.0f}"
    return f"{v:.0f} ({'inside' if s['lower'] <= v <= s['upper'] else 'outside'})"


def paper_switch_verdict(ds: xr.Dataset) -> str:
    """Where the paper's protocol (panel a) puts the switch, against where the paper places it.

    The paper's place is ``attrs["paper_switch_n"]`` (the asymptotic free-energy crossing at
    beta = 1, :func:`comparisons.jobs.paper_switch.paper_switch_n`).
    """
    a = panel_switch(ds, "a")
    paper = ds.attrs.get("paper_switch_n")
    v = ds.sel(panel="a")
    sampler, estimator = str(v["sampler"].values), str(v["estimator"].values)
    who = (f"The paper's protocol (a: {SAMPLER_TEXT.get(sampler, sampler)}, {ESTIMATOR_TEXT.get(estimator, estimator)}, "
           f"{v['classifier'].values} classifier, beta = {beta_text(a['beta'])})")
    ns = ds["n"].values
    head = (f"{who} shows no {_switch_name(ds)} switch on its n grid ({ns.min()} to {ns.max()})" if a["n"] is None
            else f"{who} puts the {_switch_name(ds)} switch at {_at(a)}")
    if paper is None or not math.isfinite(float(paper)):
        return head + "."
    paper = float(paper)
    if a["n"] is None:
        return head + f"; the paper places it near n = {paper:.0f}."
    where = ("inside this interval" if a["lower"] <= paper <= a["upper"] else
             f"{'below' if paper < a['lower'] else 'above'} this interval "
             f"(ratio {a['n'] / paper:.2f})")
    return head + (f"; the paper places its switch near n = {paper:.0f} (the asymptotic free-energy crossing "
                   f"at beta = 1), {where}.")


def convention_verdict(ds: xr.Dataset) -> str:
    """Which convention explains the paper's switch: the true posterior (b or c) whose switch the
    paper's protocol (a) matches.

    A panel explains (a) when their intervals overlap; with both or neither overlapping, the
    nearer one in ``log n`` is named and the sentence says so. Also said: which of (b) and (c)
    the paper's own place (``attrs["paper_switch_n"]``) lies nearer, in ``log n``.
    """
    s = {p: panel_switch(ds, p) for p in PANELS}
    conv = {p: str(ds["convention"].sel(panel=p).values) for p in PANELS}
    name = _switch_name(ds)
    tail = (f"The true posterior switches {name} at {_at(s['b'])} under the same convention (b, beta = "
            f"{beta_text(s['b']['beta'])}) and at {_at(s['c'])} under the theory's (c, beta = "
            f"{beta_text(s['c']['beta'])})")
    if s["a"]["n"] is None:
        return tail + "; the paper's protocol (a) shows no switch to compare."
    overlap = {p: intervals_overlap(s["a"], s[p]) for p in ("b", "c")}
    dist = {p: abs(math.log(s["a"]["n"] / s[p]["n"])) if s[p]["n"] else math.inf for p in ("b", "c")}
    hits = [p for p in ("b", "c") if overlap[p]]
    best = hits[0] if len(hits) == 1 else min(("b", "c"), key=lambda p: dist[p])
    if not math.isfinite(dist[best]):
        return tail + "; neither shows a switch to compare with (a)."
    how = ("its interval overlaps (a)'s" if len(hits) == 1 else
           "both intervals overlap (a)'s; it is the nearer" if hits else "no interval overlaps (a)'s; it is the nearer")
    other = "c" if best == "b" else "b"
    ratio = f"; (a)/({other}) = {s['a']['n'] / s[other]['n']:.2f}" if s[other]["n"] else ""
    paper = ds.attrs.get("paper_switch_n")
    where = ""
    if paper is not None and math.isfinite(float(paper)) and s["b"]["n"] and s["c"]["n"]:
        rb, rc = float(paper) / s["b"]["n"], float(paper) / s["c"]["n"]
        near = "b" if abs(math.log(rb)) < abs(math.log(rc)) else "c"
        where = (f" The paper's n = {float(paper):.0f} lies nearer ({near})'s switch: paper/(b) = {rb:.2f}, "
                 f"paper/(c) = {rc:.2f}.")
    return (tail + f". The {conv[best]} convention ({CONVENTION_TEXT.get(conv[best], conv[best])}, beta = "
            f"{beta_text(s[best]['beta'])}) explains the paper's switch: {how} "
            f"((a)/({best}) = {s['a']['n'] / s[best]['n']:.2f}{ratio})." + where)


def prediction_verdict(ds: xr.Dataset) -> str:
    """Each panel's free-energy predictions at its beta, and whether they fall in its interval."""
    parts = []
    for p in PANELS:
        s = panel_switch(ds, p)
        parts.append(f"({p}) beta = {beta_text(s['beta'])}: measured {_at(s)}, predicted "
                     f"{_inside(s['asymptotic'], s)} asymptotically and {_inside(s['o1'], s)} with the O(1) terms")
    return "Free-energy predictions of the switch at each panel's beta: " + "; ".join(parts) + "."


def fraction_gap(ds: xr.Dataset, a: str = "a", b: str = "b", min_fraction: float = MIN_FRACTION) -> dict:
    """How far the occupancy of panel ``a`` lies from panel ``b``, cell by cell.

    A cell is an ``(n, phase)`` where either panel gives at least ``min_fraction``.

    Returns
    -------
    dict
        ``{"cells", "largest" (|a - b| at the worst cell), "n", "phase", "fa", "fb" (the worst
        cell and its two fractions), "disjoint" (list of (n, phase) whose 95% intervals do not
        overlap), "mean" (mean |a - b| over the cells)}``; ``largest`` is NaN with no cell.
    """
    fa, fb = ds["fraction"].sel(panel=a).values, ds["fraction"].sel(panel=b).values
    la, ua = ds["lower"].sel(panel=a).values, ds["upper"].sel(panel=a).values
    lb, ub = ds["lower"].sel(panel=b).values, ds["upper"].sel(panel=b).values
    judged = (np.maximum(fa, fb) >= min_fraction) & np.isfinite(fa) & np.isfinite(fb)
    ns, phases = ds["n"].values, ds["phase"].values
    if not judged.any():
        return {"cells": 0, "largest": math.nan, "n": None, "phase": None, "fa": math.nan, "fb": math.nan,
                "disjoint": [], "mean": math.nan}
    gap = np.where(judged, np.abs(fa - fb), -1.0)
    i, j = np.unravel_index(int(np.argmax(gap)), gap.shape)
    disjoint = [(int(ns[r]), str(phases[c])) for r, c in zip(*np.nonzero(judged & ((ua < lb) | (ub < la))))]
    return {"cells": int(judged.sum()), "largest": float(gap[i, j]), "n": int(ns[i]), "phase": str(phases[j]),
            "fa": float(fa[i, j]), "fb": float(fb[i, j]), "disjoint": disjoint,
            "mean": float(np.abs(fa - fb)[judged].mean())}


def nuts_gap_verdict(ds: xr.Dataset) -> str:
    """How far the raw NUTS fractions (a) lie from the true posterior under the same convention (b), and where."""
    g = fraction_gap(ds, "a", "b")
    if not g["cells"]:
        return "Raw NUTS fractions (a) against the true posterior (b): no cell with a fraction of at least 0.05."
    ns = sorted({n for n, _ in g["disjoint"]})
    where = (f"their 95% intervals are disjoint in {len(g['disjoint'])} of {g['cells']} cells, at n = "
             + ", ".join(map(str, ns)) if g["disjoint"] else f"their 95% intervals overlap in all {g['cells']} cells")
    return (f"Raw NUTS fractions (a) against the true posterior (b), over the {g['cells']} cells (n, phase) with a "
            f"fraction of at least {MIN_FRACTION:g}: mean gap {g['mean']:.2f}, largest {g['largest']:.2f} "
            f"(phase {g['phase']} at n = {g['n']}: {g['fa']:.2f} against {g['fb']:.2f}); {where}.")


def figure2_verdicts(ds: xr.Dataset) -> list[str]:
    """The verdict paragraph under the figure: one sentence (with its numbers) per question.

    Where the paper's switch falls (:func:`paper_switch_verdict`), which convention explains it
    (:func:`convention_verdict`), what the free energy predicts at each beta
    (:func:`prediction_verdict`), and how far the raw NUTS fractions lie from the true posterior
    (:func:`nuts_gap_verdict`).
    """
    return [paper_switch_verdict(ds), convention_verdict(ds), prediction_verdict(ds), nuts_gap_verdict(ds)]


# --- figure and layout ----------------------------------------------------------------------------


def panel_title(ds: xr.Dataset, panel: str) -> str:
    """A panel's title from its variables: sampler, estimator, classifier, beta with its convention."""
    s = ds.sel(panel=panel)
    sampler, conv = str(s["sampler"].values), str(s["convention"].values)
    return (f"({panel}) {SAMPLER_TEXT.get(sampler, sampler)}\n{ESTIMATOR_TEXT.get(str(s['estimator'].values), '')}"
            f", {s['classifier'].values} classifier\nbeta = {beta_text(float(s['beta']))} "
            f"({CONVENTION_TEXT.get(conv, conv)})").replace("\n,", "\n")


def figure2_caption(ds: xr.Dataset) -> str:
    """The figure's caption from its attrs and variables: data set, panels, and what each mark means."""
    panels = "; ".join(
        f"({p}) {SAMPLER_TEXT.get(str(v['sampler'].values), str(v['sampler'].values))}, "
        f"{ESTIMATOR_TEXT.get(str(v['estimator'].values), str(v['estimator'].values))}, {v['classifier'].values} "
        f"classifier, beta = {beta_text(float(v['beta']))} ({v['convention'].values})"
        for p, v in ((p, ds.sel(panel=p)) for p in PANELS))
    return (f"The paper's Figure 2, reproduced on one data set (c = {ds.attrs['features']}, seed {ds.attrs['seed']}, "
            f"preset {ds.attrs['preset']}): {panels}. Bands: 95% bootstrap intervals. Black line and grey band: "
            f"the measured {_switch_name(ds)} switch and its 95% interval; green: the free-energy crossing at the "
            "panel's beta (dashed: asymptotic; dotted: with the O(1) terms); broad purple line: where the paper "
            "places its switch.")


def switch_table(ds: xr.Dataset) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the three switches: panel, sampler, classifier, beta, switch, predictions."""
    cols = ["panel", "sampler", "classifier", "beta (convention)", f"switch {_switch_name(ds)} (95% interval)",
            "predicted (asymptotic)", "predicted (with O(1) terms)"]
    rows = []
    for p in PANELS:
        s, v = panel_switch(ds, p), ds.sel(panel=p)
        rows.append([f"({p})", SAMPLER_TEXT.get(str(v["sampler"].values), str(v["sampler"].values)),
                     str(v["classifier"].values), f"{beta_text(s['beta'])} ({v['convention'].values})",
                     "-" if s["n"] is None else f"{s['n']:.0f} [{s['lower']:.0f}, {s['upper']:.0f}]",
                     "-" if s["asymptotic"] is None else f"{s['asymptotic']:.0f}",
                     "-" if s["o1"] is None else f"{s['o1']:.0f}"])
    return cols, rows


#: tick marks of a log n axis, labelled as plain numbers
N_TICKS = (10, 20, 30, 50, 100, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 10000)


def set_n_ticks(ax, lo: float, hi: float) -> None:
    """Label a log-scaled ``n`` axis on ``[lo, hi]`` with plain numbers (200, not 2 x 10^2)."""
    ticks = [t for t in N_TICKS if lo <= t <= hi]
    if len(ticks) > 7:  # a long axis: 1-2-5 steps only (not 1500, whose label runs into 1000's and 2000's)
        ticks = [t for t in ticks if round(t / 10 ** math.floor(math.log10(t)), 6) in (1, 2, 5)]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()


def plot_figure2(ds: xr.Dataset):
    """The three panels side by side: phase fractions with 95% bands against ``n``.

    Each panel marks its measured switch (black line, grey band: 95% interval), its free-energy
    predictions at its beta (green: dashed asymptotic, dotted with the O(1) terms) and the
    paper's place of the switch (broad purple line). Phases that reach 0.05 somewhere are drawn,
    in the same colour in every panel; the legend sits below the panels, clear of the curves.

    Returns
    -------
    matplotlib.figure.Figure
        Not written: the caller saves it.
    """
    import matplotlib.pyplot as plt

    ns = ds["n"].values.astype(float)
    frac = ds["fraction"].values
    shown = [j for j in range(ds.sizes["phase"]) if np.nanmax(frac[:, :, j]) >= MIN_FRACTION]
    # one colour per phase: the default cycle has 10, so more phases (c = 7, 8) take tab20's 20,
    # less its two greens, the colour of the predictions' lines
    palette = ([f"C{k}" for k in range(10)] if len(shown) <= 10 else
               [c for k, c in enumerate(plt.get_cmap("tab20").colors) if k not in (4, 5)])
    colours = {j: palette[k % len(palette)] for k, j in enumerate(shown)}
    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 4.6), sharey=True)
    paper = ds.attrs.get("paper_switch_n")
    for ax, p in zip(axes, PANELS):
        k = PANELS.index(p)
        for j in shown:
            label = str(ds["phase"].values[j])
            ax.plot(ns, frac[k, :, j], marker="o", ms=3, color=colours[j], label=f"phase {label}",
                    ls=":" if label == "unclassified" else "-")
            ax.fill_between(ns, ds["lower"].values[k, :, j], ds["upper"].values[k, :, j], color=colours[j],
                            alpha=0.15, lw=0)
        s = panel_switch(ds, p)
        if paper is not None and math.isfinite(float(paper)):
            ax.axvline(float(paper), color="C4", lw=7, alpha=0.25, zorder=0,
                       label=f"paper: switch near n = {float(paper):.0f}")
        if s["n"] is not None:
            ax.axvspan(s["lower"], s["upper"], color="0.5", alpha=0.15, lw=0, zorder=0)
            ax.axvline(s["n"], color="k", lw=1.4, label=f"measured {_switch_name(ds)} switch (grey: 95%)")
        for key, ls, what in (("asymptotic", "--", "asymptotic"), ("o1", ":", "with O(1) terms")):
            if s[key] is not None and ns.min() * 0.7 <= s[key] <= ns.max() * 1.3:
                ax.axvline(s[key], color="C2", ls=ls, lw=1.6, label=f"free energy at this beta ({what})")
        sw = "no switch" if s["n"] is None else f"{s['n']:.0f} [{s['lower']:.0f}, {s['upper']:.0f}]"
        ax.set_title(panel_title(ds, p) + f"\n{_switch_name(ds)}: {sw}", fontsize=9)
        ax.set_xscale("log")
        ax.set_xlim(ns.min() * 0.85, ns.max() * 1.15)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("n (training samples, log scale)")
        ax.grid(alpha=0.3)
        set_n_ticks(ax, ns.min() * 0.85, ns.max() * 1.15)
    axes[0].set_ylabel("fraction of posterior draws")
    labels: dict = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            labels.setdefault(lab, h)
    handles = list(labels.values())
    ncol = min(5, max(len(handles), 1))
    rows = int(np.ceil(len(handles) / ncol))
    # below the panels: the legend, then the seed rule at the very bottom; nothing over the data
    fig.legend(handles, list(labels), loc="lower center", ncol=ncol, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.05))
    fig.suptitle(f"The paper's Figure 2, reproduced: c = {ds.attrs['features']}, one data set "
                 f"(seed {ds.attrs['seed']}), preset {ds.attrs['preset']}", fontsize=10)
    fig.text(0.5, 0.005, f"seed rule: {ds.attrs['seed_rule']}", ha="center", va="bottom", fontsize=7,
             color="0.35", wrap=True)
    fig.tight_layout(rect=(0, 0.07 + 0.05 * rows, 1, 0.97))
    return fig


def figure2_markdown(ds: xr.Dataset, image: str) -> str:
    """The Markdown block of the figure: image, the three switches with predictions, verdicts, command."""
    cols, rows = switch_table(ds)
    table = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    table += ["| " + " | ".join(r) + " |" for r in rows]
    alt = (f"The paper's Figure 2, reproduced (c = {ds.attrs['features']}, seed {ds.attrs['seed']}, "
           f"preset {ds.attrs['preset']})")
    return "\n\n".join([f"![{alt}]({image})", "\n".join(table), " ".join(figure2_verdicts(ds)),
                        f"Regenerate with `{ds.attrs['command']}`; {ds.attrs['seed_rule']}"]) + "\n"
