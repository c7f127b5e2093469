"""The Bayesian-versus-dynamical report as a pipeline: load, judge, draw, lay out, write.

1. **Load** (:func:`load_inputs`): the hand-offs the jobs wrote, read through the validators of
   :mod:`comparisons.contracts` (``figure2/figure2.nc``, ``figure2/occupancy_compare.nc``,
   ``bayes_pt/occupancy.nc`` with its ``transitions.nc`` and ``diagnostics.nc``,
   ``bayes_study/switch_summary.nc``, ``sgd/plateaus.nc``). The report never imports the engines
   and writes no hand-off: every ``.nc`` it shows was written by the job that computed it.
2. **Judge** (:func:`compute_verdicts`): pure functions of the loaded data
   (:mod:`comparisons.figure2`, :mod:`comparisons.compare`, :mod:`comparisons.analysis`).
3. **Draw** (:func:`draw_figures`): matplotlib Figures, returned, not written.
4. **Lay out** (:func:`lay_out`): the sections as :mod:`comparisons.document` blocks; titles and
   captions are built from the data's attrs (sampler, classifier, beta and its convention).
5. **Write** (:func:`write_report`): the figures, ``report.md`` and ``report.html``.

Any part may be missing; the report then says so.
"""

from __future__ import annotations

__all__ = ["ReportInputs", "ReportVerdicts", "load_bayes", "load_sgd", "load_inputs", "compute_verdicts",
           "figure_names", "draw_figures", "lay_out", "build_report", "write_report", "plot_phase_gallery",
           "plot_comparison", "plot_transition_matrix", "occupancy_caption", "occupancy_title",
           "study_rows", "verdict_lines"]

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import __version__
from .analysis import correspondence, correspondence_rows, estimators_verdict, mixing_verdict
from .compare import (Verdict, bayes_moves, dominant_sequence, learning_coefficients, llc_scale_table,
                      monotone_verdict, phase_coordinates, prediction_verdict, sgd_llc_medians, sgd_moves,
                      transition_comparison)
from .contracts import (level_switches, package_versions, read_diagnostics, read_figure2, read_occupancy,
                        read_plateaus, read_switch_summary, read_transitions)
from .document import Bullets, Code, Figure, Heading, Paragraph, Table, to_html, to_markdown
from .io import save_figure, write_text
from .theory import dominant_intervals, enumerate_phases
from .theory.kgons import Phase

#: what each sampler's occupancy is, in words (captions and titles)
SAMPLER_WORDS = {"pt": "replica exchange over the n-ladder", "nuts_bridge": "NUTS chains with ladder-bridge "
                 "reweighting", "nuts_raw": "raw NUTS draw fractions", "smc": "SMC particles"}


# --- 1. load ------------------------------------------------------------------------------------


def load_bayes(folder: Path) -> dict | None:
    """A Bayesian run's hand-offs, read through the validators, or None without ``occupancy.nc``.

    Returns ``{"dir", "estimator", "attrs" (of occupancy.nc: beta, classifier, ...),
    "occupancy" (``occupancy.nc``, its first estimator), "transitions" (``transitions.nc``),
    "diagnostics" (``diagnostics.nc``), "figure"}``, a missing file None; a malformed file raises
    :class:`comparisons.contracts.ContractError`.
    """
    folder = Path(folder)
    if not (folder / "occupancy.nc").exists():
        return None
    occ = read_occupancy(folder / "occupancy.nc")
    out: dict[str, Any] = {"dir": folder, "estimator": str(occ["estimator"].values[0]),
                           "attrs": dict(occ.attrs), "occupancy": occ.isel(estimator=[0])}
    tr = folder / "transitions.nc"
    out["transitions"] = read_transitions(tr) if tr.exists() else None
    diag = folder / "diagnostics.nc"
    out["diagnostics"] = read_diagnostics(diag) if diag.exists() else None
    png = folder / "occupancy.png"
    out["figure"] = png if png.exists() else None
    return out


def load_sgd(folder: Path) -> dict | None:
    """The SGD ensemble's plateaus (``plateaus.nc``, validated), or None when it is missing.

    Returns ``{"dir", "plateaus" (the hand-off, with its paths and moves: the ones of
    ``paths.csv`` and ``transitions.csv``, computed once by the SGD job), "runs" (runs analysed),
    "staircase_figure", "plateaus_figure"}``.
    """
    folder = Path(folder)
    if not (folder / "plateaus.nc").exists():
        return None
    ds = read_plateaus(folder / "plateaus.nc")
    out: dict[str, Any] = {"dir": folder, "plateaus": ds, "runs": int(ds.attrs["runs"])}
    for name in ("staircase", "plateaus"):
        png = folder / f"{name}.png"
        out[f"{name}_figure"] = png if png.exists() else None
    return out


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, loaded and validated (stage 1 of the pipeline).

    Attributes
    ----------
    c : int
        Number of features.
    bayes : dict or None
        The leading Bayesian run (:func:`load_bayes`).
    sgd : dict or None
        The SGD ensemble (:func:`load_sgd`).
    figure2 : xarray.Dataset or None
        ``figure2.nc`` (:func:`comparisons.contracts.read_figure2`).
    compare : xarray.Dataset or None
        ``occupancy_compare.nc``: the occupancy estimators side by side.
    compare_transitions : dict
        Estimator name -> its switches (``transitions.nc`` of its folder), for the switch table.
    study : xarray.Dataset or None
        ``switch_summary.nc``; ``study_figure`` its ``switches.png``.
    plateaus : xarray.Dataset or None
        The SGD plateaus hand-off (``sgd/plateaus.nc``), for the correspondence table.
    sequence : xarray.Dataset or None
        The occupancy whose leading phase along n is the Bayesian sequence of the correspondence
        and of the occupancy-against-n figure: replica exchange on the population loss at beta = 1
        (``bayes_study/tempered/population/occupancy.nc``) when the study ran, else the leading
        run's ``occupancy.nc``.
    config, timings, cached, this_run
        Provenance: the run's configuration, seconds of computation per stage (those in
        ``cached`` computed by an earlier run) and the seconds this run spent.
    """

    c: int
    bayes: dict | None = None
    sgd: dict | None = None
    figure2: Any = None
    compare: Any = None
    compare_transitions: Mapping[str, Any] = field(default_factory=dict)
    study: Any = None
    study_figure: Path | None = None
    plateaus: Any = None
    sequence: Any = None
    config: Mapping[str, Any] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    cached: Sequence[str] = ()
    this_run: Mapping[str, float] | None = None


def load_inputs(c: int, bayes_dir: Path | None, sgd_dir: Path | None, *, figure2_dir: Path | None = None,
                study_dir: Path | None = None, estimator_dirs: Mapping[str, Path] | None = None,
                config: Mapping[str, Any] | None = None, timings: Mapping[str, float] | None = None,
                cached: Sequence[str] = (), this_run: Mapping[str, float] | None = None) -> ReportInputs:
    """Stage 1: read every hand-off through its validator (missing parts stay None).

    ``figure2_dir`` holds ``figure2.nc`` and ``occupancy_compare.nc`` (:mod:`comparisons.jobs.figure2`);
    ``estimator_dirs`` maps an estimator of ``occupancy_compare.nc`` to the folder whose
    ``transitions.nc`` holds its switches.
    """
    fig2 = Path(figure2_dir) / "figure2.nc" if figure2_dir else None
    comp = Path(figure2_dir) / "occupancy_compare.nc" if figure2_dir else None
    summary = Path(study_dir) / "switch_summary.nc" if study_dir else None
    png = Path(study_dir) / "switches.png" if study_dir else None
    population = Path(study_dir) / "tempered" / "population" / "occupancy.nc" if study_dir else None
    if population is None or not population.is_file():
        population = Path(bayes_dir) / "occupancy.nc" if bayes_dir else None
    plateaus = Path(sgd_dir) / "plateaus.nc" if sgd_dir else None
    trans = {}
    for name, folder in (estimator_dirs or {}).items():
        path = Path(folder) / "transitions.nc"
        if path.is_file():
            trans[name] = read_transitions(path)
    return ReportInputs(
        c=c, bayes=load_bayes(bayes_dir) if bayes_dir else None, sgd=load_sgd(sgd_dir) if sgd_dir else None,
        figure2=read_figure2(fig2) if fig2 and fig2.is_file() else None,
        compare=read_occupancy(comp) if comp and comp.is_file() else None, compare_transitions=trans,
        study=read_switch_summary(summary) if summary and summary.is_file() else None,
        study_figure=png if png and png.is_file() else None,
        plateaus=read_plateaus(plateaus) if plateaus and plateaus.is_file() else None,
        sequence=read_occupancy(population) if population and population.is_file() else None,
        config=dict(config or {}),
        timings=dict(timings or {}), cached=tuple(cached), this_run=this_run)


# --- 2. judge -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportVerdicts:
    """What the report concludes (stage 2): each field computed by a pure function of the inputs.

    Attributes
    ----------
    figure2 : list of str
        :func:`comparisons.figure2.figure2_verdicts`.
    lines : list of str
        The verdict bullets (:func:`verdict_lines`).
    sequence : list of dict
        The leading phase along n of the leading Bayesian run (:func:`comparisons.compare.dominant_sequence`).
    mixing : (str, list of int)
        :func:`comparisons.analysis.mixing_verdict` of its diagnostics.
    estimators : dict or None
        :func:`comparisons.analysis.estimators_verdict` over ``occupancy_compare.nc``, with ``names``.
    sgd_llc : dict
        Phase -> median SGLD estimate over its SGD plateaus.
    scale : list of dict
        :func:`comparisons.compare.llc_scale_table`.
    moves : list of dict
        :func:`comparisons.compare.transition_comparison`.
    correspondence : xarray.Dataset or None
        :func:`comparisons.analysis.correspondence.correspondence` of the SGD plateaus and the
        Bayesian sequence (``ReportInputs.sequence``).
    """

    figure2: list
    lines: list
    sequence: list
    mixing: tuple
    estimators: dict | None
    sgd_llc: dict
    scale: list
    moves: list
    correspondence: Any = None


def verdict_lines(phases: Sequence[Phase], bayes: dict | None, sgd: dict | None,
                  sgd_llc: Mapping[str, float]) -> list[str]:
    """The verdict bullets: monotone moves of both processes, the Bayesian switches against the
    free energy, and which moves each process makes."""
    coef = learning_coefficients(phases)
    true_coords = {p.label: (p.loss, coef[p.label][0]) for p in phases if p.label in coef}
    coords = phase_coordinates(phases)
    verdicts: list[Verdict] = []
    b_moves = bayes_moves(bayes["occupancy"]) if bayes else []
    s_moves = [(a, b) for _, a, b in sgd_moves(sgd["plateaus"])] if sgd else []
    if bayes:
        verdicts.append(monotone_verdict("Bayesian (n increasing; the phases' learning coefficients)", b_moves,
                                         true_coords))
        if bayes["transitions"] is not None:
            verdicts.extend(prediction_verdict(bayes["transitions"]))
    if sgd:
        verdicts.append(monotone_verdict("SGD (time increasing; the phases' learning coefficients)", s_moves,
                                         true_coords))
        sgd_coords = {k: (coords[k][0], sgd_llc[k]) for k in coords if k in sgd_llc}
        verdicts.append(monotone_verdict("SGD (time increasing; SGLD plateau estimates at the protocol's n)",
                                         s_moves, sgd_coords))
    lines = [v.line() for v in verdicts]
    if bayes and sgd:
        fmt = lambda ms: ", ".join(f"{a}->{b}" for a, b in ms) or "none"  # noqa: E731
        lines += [f"Transitions in both processes: {fmt(sorted(set(b_moves) & set(s_moves)))}",
                  f"Only Bayesian: {fmt(sorted(set(b_moves) - set(s_moves)))}",
                  f"Only SGD: {fmt(sorted(set(s_moves) - set(b_moves)))}"]
    return lines or ["no engine output found"]


def compute_verdicts(inputs: ReportInputs) -> ReportVerdicts:
    """Stage 2: every verdict, table and sequence the report shows, from the loaded inputs only."""
    from .figure2 import figure2_verdicts

    phases = enumerate_phases(inputs.c)
    bayes, sgd = inputs.bayes, inputs.sgd
    sgd_llc = sgd_llc_medians(sgd["plateaus"]) if sgd else {}
    estimators = None
    if inputs.compare is not None and inputs.compare.sizes["estimator"] >= 2:
        names = [str(v) for v in inputs.compare["estimator"].values]
        estimators = {**estimators_verdict(inputs.compare, names), "names": names}
    return ReportVerdicts(
        figure2=figure2_verdicts(inputs.figure2) if inputs.figure2 is not None else [],
        lines=verdict_lines(phases, bayes, sgd, sgd_llc),
        sequence=dominant_sequence(bayes["occupancy"]) if bayes else [],
        mixing=mixing_verdict(bayes.get("diagnostics")) if bayes else ("no data", []),
        estimators=estimators, sgd_llc=sgd_llc,
        scale=llc_scale_table(phases, sgd["plateaus"]) if sgd else [],
        moves=(transition_comparison(bayes["transitions"] if bayes else None, sgd["plateaus"] if sgd else None)
               if (bayes or sgd) else []),
        correspondence=(correspondence(inputs.plateaus, inputs.sequence, inputs.c,
                                       prior_sigma=float(inputs.sequence.attrs.get("prior_sigma", 1.0))
                                       if inputs.sequence is not None else 1.0)
                        if inputs.plateaus is not None else None))


# --- 3. draw ------------------------------------------------------------------------------------


# --- figures (stage 3 draws them) ------------------------------------------------------------------


def plot_phase_gallery(phases: Sequence[Phase], max_phases: int = 12):
    """Each phase as arrows (columns of W) in the plane; biases written at the arrow tips.

    Returns the matplotlib Figure (not written).
    """
    import matplotlib.pyplot as plt

    shown = list(phases)[:max_phases]
    cols = min(4, len(shown))
    rows = int(np.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    lim = 1.45 * max(max(np.linalg.norm(p.W, axis=0).max(), 0.3) for p in shown)
    for ax, p in zip(axes.ravel(), shown):
        ax.add_patch(plt.Circle((0, 0), 0.05 * lim, color="0.8"))
        for i in range(p.c):
            w, bias = p.W[:, i], p.b[i]
            if np.linalg.norm(w) > 1e-9:
                off = bias <= -(w @ w)
                ax.annotate("", xy=w, xytext=(0, 0), arrowprops=dict(
                    arrowstyle="->", color="0.6" if off else "C0", lw=1.6, ls="--" if off else "-"))
                tip = w * (1 + 0.2 * lim / (1.45 * np.linalg.norm(w)))  # beyond the arrow head, never on it
                ax.text(*tip, f"{bias:+.2f}", fontsize=7, ha="center", va="center")
        plus = int(np.sum((np.linalg.norm(p.W, axis=0) < 1e-9) & (p.b > 0)))
        ax.set_title(f"{p.label}   L={p.loss:.4f}" + (f"  ({plus} x b=+{1 / (2 * p.c):.3f})" if plus else ""),
                     fontsize=9)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    fig.suptitle("k-gon critical points: columns of W (dashed: switched off), biases at the tips", fontsize=10)
    return fig


def plot_comparison(coords: Mapping[str, tuple[float, float]], bayes_seq: Sequence[Mapping], plateaus=None):
    """Both processes on one LLC scale, and the finite-n bias of the SGLD estimates.

    Left: each phase at ``(L(w*), lambda)`` (``coords``: exact or measured coefficients), the
    Bayesian dominant phases with their n ranges and the moves of both processes between phases;
    the SGD plateaus (the plateaus hand-off, with its moves; None: no SGD) sit at their phase's
    coordinates, so both processes share one scale. Right:
    every SGD plateau's SGLD estimate at the protocol's n against its phase's coefficient, with
    the line ``estimate = coefficient``. Returns the Figure (not written).
    """
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1.5, 1]})
    plateau_phase = plateaus["phase"].values.astype(str) if plateaus is not None else np.array([], dtype=str)
    plateau_llc = plateaus["llc"].values.astype(float) if plateaus is not None else np.array([])
    moves_sgd = sgd_moves(plateaus) if plateaus is not None else []
    seen = {s["phase"] for s in bayes_seq} | set(plateau_phase)
    counts = Counter(plateau_phase.tolist())
    for label, (loss, llc) in coords.items():
        if label in seen:
            ax.plot(loss, llc, "k+", ms=10, zorder=4)
            ax.annotate(label + (f" ({counts[label]} SGD plateaus)" if counts.get(label) else ""), (loss, llc),
                        textcoords="offset points", xytext=(7, -13), fontsize=8, zorder=5,
                        bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    for (a, b), k in Counter((a, b) for _, a, b in moves_sgd).items():
        if a in coords and b in coords:
            ax.annotate("", xy=coords[b], xytext=coords[a], arrowprops=dict(
                arrowstyle="->", color="C1", lw=0.6 + 2.5 * k / max(1, len(moves_sgd)), alpha=0.7,
                connectionstyle="arc3,rad=0.15"))
    for s in bayes_seq:
        if s["phase"] in coords:
            ax.plot(*coords[s["phase"]], "o", color="C0", ms=9, alpha=0.6, zorder=3)
            span = (f"n = {s['n_from']:.0f}" if round(s["n_from"]) == round(s["n_to"])
                    else f"n {s['n_from']:.0f}-{s['n_to']:.0f}")
            ax.annotate(span, coords[s["phase"]], textcoords="offset points", xytext=(6, 7), fontsize=8,
                        color="C0")
    for a, b in zip(bayes_seq[:-1], bayes_seq[1:]):
        if a["phase"] in coords and b["phase"] in coords:
            ax.annotate("", xy=coords[b["phase"]], xytext=coords[a["phase"]],
                        arrowprops=dict(arrowstyle="-|>", color="C0", lw=2.2, shrinkA=6, shrinkB=6))
    ax.plot([], [], "o", color="C0", label="Bayesian dominant phase (n range)")
    ax.plot([], [], "-", color="C1", label="SGD moves between plateaus (width: count)")
    ax.plot([], [], "k+", label="phase: loss and learning coefficient")
    ax.margins(x=0.2, y=0.12)  # room for the labels beside the outermost phases
    ax.set_xlabel("population loss L (per sample)")
    ax.set_ylabel("learning coefficient (exact, or measured on walls)")
    ax.set_title("Bayesian (blue, n increasing) and SGD (orange, time increasing)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=3, frameon=False)  # clear of the data
    ax.grid(alpha=0.3)
    pl = [(p, float(v)) for p, v in zip(plateau_phase, plateau_llc) if p in coords and np.isfinite(v)]
    rng = np.random.default_rng(0)  # horizontal jitter only, for legibility
    for i, name in enumerate(sorted({p for p, _ in pl}, key=lambda p: coords[p][1])):
        y = np.array([v for p, v in pl if p == name])
        x = coords[name][1] + rng.uniform(-0.08, 0.08, size=y.size)
        ax2.scatter(x, y, s=12, alpha=0.5, color=f"C{(i + 2) % 10}", label=f"{name}: {y.size} plateaus")
    if pl:
        lo = min(min(v for _, v in pl), min(coords[p][1] for p, _ in pl)) - 0.5
        hi = max(max(v for _, v in pl), max(coords[p][1] for p, _ in pl)) + 0.5
        ax2.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="estimate = coefficient")
        ax2.legend(fontsize=7, loc="best")
    ax2.set_xlabel("the phase's learning coefficient (dimensionless)")
    ax2.set_ylabel("SGLD estimate of the plateau at the protocol's n")
    ax2.set_title("finite-n bias of the SGD plateaus' estimates", fontsize=10)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_transition_matrix(plateaus):
    """Heat map of the SGD transition counts of the plateaus hand-off's moves (row: from, column: to);
    the Figure, not written."""
    import matplotlib.pyplot as plt

    moves_sgd = sgd_moves(plateaus)
    labels = sorted({a for _, a, _ in moves_sgd} | {b for _, _, b in moves_sgd})
    idx = {lab: i for i, lab in enumerate(labels)}
    M = np.zeros((len(labels), len(labels)), dtype=int)
    for _, a, b in moves_sgd:
        M[idx[a], idx[b]] += 1
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * max(len(labels), 2), 1.0 + 0.6 * max(len(labels), 2)))
    ax.imshow(M, cmap="Blues", vmin=0, vmax=max(int(M.max()), 1))
    for i in range(len(labels)):
        for j in range(len(labels)):
            if M[i, j]:  # white on the dark cells, black on the light ones
                ax.text(j, i, str(M[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if M[i, j] > 0.5 * M.max() else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("phase after the move")
    ax.set_ylabel("phase before the move")
    ax.set_title("SGD transitions between phases (counts over runs)")
    return fig


def predicted_switches(c: int, beta: float = 1.0, prior_sigma: float = 1.0, n_min: float = 10.0,
                       n_max: float = 1e6) -> list[dict]:
    """Every step of the predicted dominant sequence at ``beta``: ``{"from", "to", "n"}``.

    The asymptotic free energy (:func:`comparisons.theory.dominant_intervals`); the sequence with
    O(1) terms is :func:`comparisons.theory.dominant_sequence` (slower: Monte Carlo flat volumes,
    so the report marks the asymptotic one).
    """
    dom = dominant_intervals(enumerate_phases(c), n_min, n_max, prior_sigma=prior_sigma, beta=beta)
    return [{"from": a["phase"], "to": b["phase"], "n": b["n_from"]} for a, b in zip(dom[:-1], dom[1:])]


def plot_occupancy_crossings(occupancy, c: int, leading: int = 8):
    """The Bayesian occupancy against n with every predicted crossing of the dominant sequence marked.

    ``occupancy``: an occupancy hand-off (its first estimator; beta and prior scale from its attrs);
    the phases drawn are those that lead at some n and the next most occupied, up to
    ``leading``, with their intervals as bands. Each predicted step ``a -> b`` is a dashed
    vertical line labelled at the top. Returns the Figure (not written).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from .theory.classify import UNCLASSIFIED

    est = str(occupancy["estimator"].values[0])
    occ = occupancy.sel(estimator=est)
    beta = float(occupancy.attrs.get("beta", 1.0))
    prior_sigma = float(occupancy.attrs.get("prior_sigma", 1.0))
    frac = occ["fraction"].fillna(0.0)
    phases = [str(p) for p in occ["phase"].values if str(p) != UNCLASSIFIED]
    lead = {phases[i] for i in frac.sel(phase=phases).argmax("phase").values}
    peak = frac.sel(phase=phases).max("n")
    order = sorted(phases, key=lambda p: (p not in lead, -float(peak.sel(phase=p))))[:leading]
    ns = occ["n"].values.astype(float)
    fig, ax = plt.subplots(figsize=(10, 5))
    for i, p in enumerate(sorted(order, key=lambda p: float(ns[int(frac.sel(phase=p).argmax("n"))]))):
        color = f"C{i % 10}"
        ax.plot(ns, frac.sel(phase=p).values, "o-", color=color, ms=3.5, lw=1.5, label=p)
        lo, hi = occ["lower"].sel(phase=p).values, occ["upper"].sel(phase=p).values
        if np.isfinite(lo).any():
            ax.fill_between(ns, np.nan_to_num(lo), np.nan_to_num(hi), color=color, alpha=0.15, lw=0)
    if UNCLASSIFIED in occ["phase"].values and float(frac.sel(phase=UNCLASSIFIED).max()) > 0.02:
        ax.plot(ns, frac.sel(phase=UNCLASSIFIED).values, ":", color="0.5", lw=1.2, label="unclassified")
    for k, s in enumerate(predicted_switches(c, beta, prior_sigma, n_min=ns.min() * 0.8, n_max=ns.max() * 1.25)):
        ax.axvline(s["n"], color="0.25", ls="--", lw=1.0)
        ax.annotate(f"{s['from']} -> {s['to']}\nn = {s['n']:.0f}", (s["n"], 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3, -4 - 22 * (k % 2)), textcoords="offset points", fontsize=7.5, va="top",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    ax.plot([], [], "--", color="0.25", label="predicted switch (asymptotic free energy)")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("n (log scale)")
    ax.set_ylabel("posterior share of the phase")
    pop = " on the population loss" if int(occupancy.attrs.get("population", 0)) else ""
    ax.set_title(f"c = {c}: Bayesian occupancy ({SAMPLER_WORDS.get(est, est)}{pop}, beta = {beta:g}) "
                 "and every predicted switch", fontsize=10)
    ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def figure_names(inputs: ReportInputs) -> list[str]:
    """The figures :func:`draw_figures` draws for these inputs (each written as ``NAME.png``)."""
    names = ["figure2"] if inputs.figure2 is not None else []
    names.append("phases")
    if inputs.bayes or inputs.sgd:
        names.append("comparison")
    if inputs.sequence is not None:
        names.append("occupancy_crossings")
    if inputs.sgd and inputs.sgd["plateaus"].sizes["move"]:
        names.append("sgd_transitions")
    return names


def draw_figures(inputs: ReportInputs, verdicts: ReportVerdicts) -> dict[str, Any]:
    """Stage 3: the report's own figures as matplotlib Figures, by name (:func:`figure_names`); not written."""
    from .figure2 import plot_figure2

    phases = enumerate_phases(inputs.c)
    coef = learning_coefficients(phases)
    true_coords = {p.label: (p.loss, coef[p.label][0]) for p in phases if p.label in coef}
    sgd = inputs.sgd
    drawers = {
        "figure2": lambda: plot_figure2(inputs.figure2),
        "phases": lambda: plot_phase_gallery(phases),
        "comparison": lambda: plot_comparison(true_coords, verdicts.sequence, sgd["plateaus"] if sgd else None),
        "sgd_transitions": lambda: plot_transition_matrix(sgd["plateaus"]),
        "occupancy_crossings": lambda: plot_occupancy_crossings(inputs.sequence, inputs.c),
    }
    return {name: drawers[name]() for name in figure_names(inputs)}


# --- 4. lay out ---------------------------------------------------------------------------------


def _beta_words(attrs: Mapping) -> str:
    from .figure2 import beta_text
    from .jobs.figure2 import convention_name

    if "beta" not in attrs:
        return "beta not recorded"
    beta = float(attrs["beta"])
    return f"beta = {beta_text(beta)} ({convention_name(beta)})"


def occupancy_title(bayes: Mapping) -> str:
    """``sampler, classifier, beta (convention)`` of a Bayesian run, from its occupancy attrs."""
    attrs = bayes.get("attrs", {})
    return (f"{SAMPLER_WORDS.get(bayes['estimator'], bayes['estimator'])}, "
            f"{attrs.get('classifier', 'unrecorded')} classifier, {_beta_words(attrs)}")


def occupancy_caption(bayes: Mapping) -> str:
    """The caption of a Bayesian run's ``occupancy.png``, from its attrs."""
    attrs = bayes.get("attrs", {})
    what = ("fraction of replica-exchange draws per phase, with 95% bootstrap bands over the copies"
            if bayes["estimator"] == "pt" else
            "posterior mass per phase by ladder-bridge reweighting, with 95% bootstrap bands over chains; "
            "dashed: raw draw fractions")
    return (f"{what} ({attrs.get('classifier', 'unrecorded')} classifier, {_beta_words(attrs)}); dashed "
            f"vertical lines: free-energy crossings at the run's beta; shaded: measured switches; broad "
            "purple line: where the paper places its 5 -> 6 switch")


def figure2_blocks(ds, figure: Path | None) -> list:
    """The paper's Figure 2 reproduced: the figure, its three switches, the verdict paragraph, the command."""
    from .figure2 import figure2_caption, figure2_verdicts, switch_table

    cols, rows = switch_table(ds)
    blocks: list = [Heading("The paper's Figure 2, reproduced")]
    if figure is not None:
        blocks.append(Figure(figure, figure2_caption(ds), width=960))
    blocks += [Table(cols, rows, caption="the 5 -> 6 switch of each panel with its 95% bootstrap interval, and "
                                         "the free-energy predictions at the panel's beta"),
               Paragraph(" ".join(figure2_verdicts(ds))),
               Paragraph(f"Regenerate with `{ds.attrs['command']}`. Seed rule: {ds.attrs['seed_rule']}.")]
    return blocks


def bayes_diagnostics_blocks(diagnostics) -> list:
    """The convergence table of the Bayesian run (the diagnostics hand-off, or None) and its verdict
    (every n, flagged where not mixed)."""
    if diagnostics is None or not diagnostics.sizes["row"]:
        return []
    answer, flagged = mixing_verdict(diagnostics)
    if "phase" in diagnostics:
        diagnostics = diagnostics.isel(row=diagnostics["phase"].values == "all")
    pt = "swap_accept_next" in diagnostics
    if pt:
        cols = ["n", "copies", "draws", "rhat_loss", "ess_bulk_loss", "hmc_accept", "swap_accept_next",
                "round_trips_mean", "mixed"]
    else:
        cols = ["n", "chains", "draws", "rhat_loss", "ess_bulk_loss", "divergences", "switches"]
    note = ("" if answer != "no" else
            f" Estimates at n = {', '.join(str(n) for n in flagged)} rest on chains that did not mix: "
            "their intervals understate the uncertainty.")
    return [Paragraph("Chains mixed at every n (R-hat of the loss <= 1.05"
                      + (", at least 5 round trips per copy on average" if pt else "") + f")? **{answer}**." + note),
            Table(cols, [list(r) for r in zip(*(diagnostics[k].values.tolist() for k in cols))],
                  caption="convergence per n: R-hat and bulk ESS of the loss (an invariant of the symmetries)"
                          + ("; swap acceptance to the next rung and round trips of the replica exchange" if pt
                             else "; NUTS divergences and within-chain phase switches"))]


def bayes_blocks(bayes: dict | None, verdicts: ReportVerdicts) -> list:
    """The leading Bayesian run: its figure, the leading phase along n, its switches and its mixing."""
    blocks: list = [Heading("Bayesian: posterior phase occupancy against n")]
    if not bayes:
        return blocks + [Paragraph("Not run (no bayes/occupancy.nc).")]
    blocks.append(Paragraph(f"Occupancy by {occupancy_title(bayes)}."))
    if bayes.get("figure"):
        blocks.append(Figure(bayes["figure"], occupancy_caption(bayes)))
    classifier = bayes.get("attrs", {}).get("classifier", "unrecorded")
    blocks.append(Table(["phase", "leads from n", "to n", "largest fraction", "unclassified (max)",
                         "leads all mass"],
                        [[s["phase"], s["n_from"], s["n_to"], s["fraction"], s["unclassified"],
                          "yes" if s["leads_all_mass"] else "classified draws only"] for s in verdicts.sequence],
                        caption=f"the leading classified phase along n ({classifier} classifier); where the "
                                "unclassified share is larger, the phase leads the classified draws only"))
    trans = bayes["transitions"]
    if trans is not None and trans.sizes["transition"]:
        flagged = set(verdicts.mixing[1])

        def mixed(before, after):
            around = {int(k) for k in (before, after) if k >= 0}
            return "-" if not around else ("no: n = " + ", ".join(map(str, sorted(around & flagged)))
                                           if around & flagged else "yes")

        names = ("level", "from", "to", "n", "lower", "upper", "predicted_n", "predicted_n_laplace", "beta")
        blocks.append(Table(["level", "from", "to", "n", "lower", "upper", "predicted n (asymptotic)",
                             "predicted n (with O(1) terms)", "beta", "chains mixed around it"],
                            [[*row, mixed(before, after)] for *row, before, after in zip(
                                *(trans[k].values.tolist() for k in (*names, "n_before", "n_after")))],
                            caption="measured switches of the dominant phase (95% bootstrap interval) and the "
                                    "free-energy predictions at the run's beta"))
    return blocks + bayes_diagnostics_blocks(bayes.get("diagnostics"))


def estimators_blocks(inputs: ReportInputs, verdicts: ReportVerdicts) -> list:
    """Where the occupancy estimators of ``occupancy_compare.nc`` agree: every pair, the odd one out,
    and the switches of the first two."""
    v = verdicts.estimators
    if not v:
        return []
    names = v["names"]

    def cells(cs, k=8):
        return ", ".join(f"n = {n} {p}" for n, p in cs[:k]) + (" ..." if len(cs) > k else "")

    lines = []
    for ag in v["pairs"]:
        shown = ", ".join(f"n = {n} {p}: {fa:.2f} vs {fb:.2f}" for n, p, fa, fb in ag["disagree"][:8])
        lines.append(f"`{ag['a']}` and `{ag['b']}`, at the {len(ag['ns'])} common n: the 95% intervals overlap "
                     f"in **{ag['agree']} of {ag['cells']}** cells" + (f"; they disagree at {shown}" if shown else ""))
    if v["verdict"] == "agree":
        verdict = "all estimators agree on every judged cell."
    elif v["verdict"] == "no data":
        verdict = "no cell to judge."
    else:
        parts = [f"`{k}` disagrees with all the others, which agree with each other, at {cells(cs)}"
                 for k, cs in v["odd_one_out"].items()]
        if v["unattributed"]:
            parts.append(f"no single estimator stands apart at {cells(v['unattributed'])}")
        verdict = "; ".join(parts) + "."
    attrs = inputs.compare.attrs
    count = {2: "two", 3: "three"}.get(len(names), str(len(names)))
    blocks = [Heading(f"Bayesian: {count} estimators of the occupancy"),
              Paragraph(" against ".join(f"`{nm}` ({SAMPLER_WORDS.get(nm, nm)})" for nm in names)
                        + f" on the same data, {attrs.get('classifier', 'unrecorded')} classifier, "
                        f"{_beta_words(attrs)}. The table is `occupancy_compare.nc` (its export "
                        "`occupancy_compare.csv`: n, phase, estimator, fraction, lower, upper), written by the "
                        "figure2 job. Each cell is a phase and an n with a fraction of at least 0.05 in either "
                        "estimator of a pair. Verdict: " + verdict),
              Bullets(lines)]
    ka, kb = ({(a, b): (n, lo, hi) for a, b, n, lo, hi in zip(*(
        level_switches(inputs.compare_transitions[nm])[k].values.tolist()
        for k in ("from", "to", "n", "lower", "upper")))} if nm in inputs.compare_transitions else {}
        for nm in names[:2])
    both = [k for k in ka if k in kb]
    if both:
        blocks.append(Table(["from", "to", f"n ({names[0]})", "interval", f"n ({names[1]})", "interval"],
                            [[a, b, ka[(a, b)][0], f"{ka[(a, b)][1]:.0f}-{ka[(a, b)][2]:.0f}",
                              kb[(a, b)][0], f"{kb[(a, b)][1]:.0f}-{kb[(a, b)][2]:.0f}"]
                             for a, b in both], caption=f"the same switches by {names[0]} and {names[1]}"))
    return blocks


def study_rows(summary) -> list[list]:
    """The rows of the switch-over-data-sets table (the switch-summary hand-off); the O(1) prediction
    judged against the population value."""
    names = ("convention", "beta", "from", "to", "datasets", "datasets_run", "mean", "sd", "values", "population",
             "predicted_n", "predicted_n_laplace", "all_mixed")
    # summaries written before the per-switch R-hat have no rhat_max / disagree / switches
    nan = [np.nan] * summary.sizes["row"]
    local = [summary[k].values.tolist() if k in summary else nan for k in ("rhat_max", "disagree", "switches")]
    rows = []
    for (conv, beta, a, b, k, run, mean, sd, values, pop, pred, lap, mixed), (rhat, bad, total) in zip(
            zip(*(summary[k].values.tolist() for k in names)), zip(*local)):
        judged = "-" if not np.isfinite([pop, lap]).all() else f"{lap / pop:.2f}"
        agree = "-" if not np.isfinite(rhat) else (f"{rhat:.2f}" + (f" ({bad:.0f} of {total:.0f} over)" if bad else ""))
        rows.append([conv, beta, f"{a} -> {b}", f"{k:.0f} of {run:.0f}", mean, sd, str(values), pop, pred, lap,
                     judged, agree, "yes" if mixed else "no"])
    return rows


def study_blocks(summary, figure: Path | None) -> list:
    """The switch over many data sets and both likelihood conventions (``switch_summary.nc``)."""
    if summary is None:
        return []
    from .jobs.bayes_pt import MIXED_RHAT

    blocks = [Heading("Bayesian: the switch over data sets and conventions"),
              Paragraph("One data set is one draw of a random switch point. Each row: the switch n over the "
                        "data sets (mean, sd, each value), on the population loss (no data noise), and the "
                        "free-energy predictions at that beta. The O(1) prediction is judged against the "
                        "population value. 'R-hat at switch' is the largest loss R-hat across a run's "
                        f"copies at the two rungs around its switch; above {MIXED_RHAT:g} the copies "
                        "disagree there and that switch is not measured. 'all mixed': every run with the switch "
                        f"is mixed at every rung (R-hat at most {MIXED_RHAT:g}, and enough round trips "
                        "per copy over its whole ladder)."),
              Table(["convention", "beta", "switch", "data sets that switch", "mean n", "sd", "values", "population",
                     "predicted (asymptotic)", "predicted (O(1))", "O(1) / population", "R-hat at switch",
                     "all mixed"],
                    study_rows(summary),
                    caption="tempered: beta = 1; gaussian-sigma1: beta = 1/2, the convention of the authors' "
                            "public NUTS code")]
    if figure is not None:
        blocks.append(Figure(figure, "switch n per data set (dots with 95% intervals), population loss (star), "
                                     "predictions (green); broad purple line: where the paper places its switch"))
    return blocks


def _coefficient_text(p: Phase) -> str | float:
    """The phase's learning coefficient as the report shows it: exact, measured (with SE), or a bound."""
    if p.llc is not None:
        return p.llc
    if p.llc_measured is not None:
        return f"{p.llc_measured:.2f} +- {p.llc_se:.2f} (measured; wall)"
    return f"<= {p.llc_bound:g} (wall)"


def lay_out(inputs: ReportInputs, verdicts: ReportVerdicts, figures: Mapping[str, Path]) -> list:
    """Stage 4: the report's sections as document blocks; ``figures`` maps a figure name to its file."""
    c, bayes, sgd = inputs.c, inputs.bayes, inputs.sgd
    phases = enumerate_phases(c)
    intro = ("Generated by `tms-phases reproduce`. Theory from the closed-form potential; Bayesian occupancy "
             + (f"by {occupancy_title(bayes)}" if bayes else "not run")
             + ("" if inputs.compare is None else " (beside it, at "
                + _beta_words(inputs.compare.attrs) + ": "
                + ", ".join(f"`{v}`" for v in inputs.compare["estimator"].values) + ")")
             + "; dynamics from an SGD ensemble with SGLD estimates of the local learning coefficient.")
    blocks: list = [Heading(f"Phase transitions in the Toy Model of Superposition (c = {c}, r = 2)", 1),
                    Paragraph(intro)]
    if inputs.figure2 is not None:
        blocks += figure2_blocks(inputs.figure2, figures.get("figure2"))
    blocks += [Heading("Verdicts"), Bullets(verdicts.lines)]
    dom = dominant_intervals(phases, 10, 1e6)
    blocks += [Heading("The phases (theory)"),
               Table(["phase", "loss", "learning coefficient", "LLC estimate (SGD plateaus, median)", "prior term"],
                     [[p.label, p.loss, _coefficient_text(p), verdicts.sgd_llc.get(p.label), p.prior_term]
                      for p in phases[:14]],
                     caption="lowest-loss phases; the full list: tms-phases kgons --features " + str(c))]
    if "phases" in figures:
        blocks.append(Figure(figures["phases"], "k-gon critical points: the columns of W as arrows (dashed: "
                                                "switched off), each bias at its arrow's tip"))
    blocks.append(Table(["from n", "to n", "dominant phase (free energy)"],
                        [[d["n_from"], d["n_to"], d["phase"]] for d in dom],
                        caption="F_n = n L + llc log n + |w*|^2 / 2 (beta = 1)"))
    blocks += bayes_blocks(bayes, verdicts)
    blocks += estimators_blocks(inputs, verdicts)
    blocks += study_blocks(inputs.study, inputs.study_figure)
    blocks.append(Heading("Dynamical: SGD trajectories"))
    if sgd:
        for key, cap in (("staircase_figure", "loss and LLC against step; k-gon loss levels as lines"),
                         ("plateaus_figure", "plateau loss against plateau LLC")):
            if sgd.get(key):
                blocks.append(Figure(sgd[key], cap))
        if "sgd_transitions" in figures:
            blocks.append(Figure(figures["sgd_transitions"], f"SGD transition counts over {sgd['runs']} runs"))
        paths = sgd["plateaus"].isel(path=slice(0, 12))
        blocks.append(Table(["path", "runs", "fraction"],
                            [list(p) for p in zip(*(paths[k].values.tolist() for k in ("path", "path_runs",
                                                                                       "path_fraction")))],
                            caption=f"distinct phase paths over {sgd['runs']} runs"))
    else:
        blocks.append(Paragraph("Not run (no sgd/plateaus.nc)."))
    blocks.append(Heading("Bayesian versus dynamical"))
    if bayes or sgd:
        if "comparison" in figures:
            blocks.append(Figure(figures["comparison"],
                                 "left: loss against learning coefficient (exact rank/2, or measured on the non-C^2 "
                                 "walls), the moves of both processes between phases; right: the SGLD estimate of "
                                 "each SGD plateau at the protocol's n against its phase's coefficient (the finite-n "
                                 "bias)"))
        if sgd:
            blocks.append(Table(["phase", "loss", "learning coefficient", "se", "kind", "SGD plateaus",
                                 "SGLD estimate (median)", "IQR", "estimate - coefficient"],
                                [[r["phase"], r["loss"], r["llc"], r["llc_se"], r["kind"], r["plateaus"],
                                  r["estimate"], r["estimate_iqr"], r["bias"]] for r in verdicts.scale],
                                caption="one LLC scale: each phase's learning coefficient beside the SGLD "
                                        "estimates of the SGD plateaus in it"))
        blocks.append(Table(["from", "to", "Bayesian n", "interval", "predicted n", "predicted n (O(1))",
                             "SGD count", "SGD runs"],
                            [[r["from"], r["to"], r["bayes_n"],
                              "-" if r["bayes_interval"][0] is None else
                              f"{r['bayes_interval'][0]:.0f}-{r['bayes_interval'][1]:.0f}",
                              r["predicted_n"], r.get("predicted_n_laplace"), r["sgd_count"],
                              r["sgd_runs_fraction"]] for r in verdicts.moves],
                            caption="moves made by each process: the critical n of each Bayesian switch "
                                    "and how often SGD makes the same move"))
    blocks += correspondence_blocks(inputs, verdicts, figures.get("occupancy_crossings"))
    blocks += [Heading("Reproducibility"),
               Code(json.dumps({"config": inputs.config, "versions": {**package_versions("python", "numpy", "scipy", "xarray", "torch", "pymc", "pytensor", "arviz", "nutpie"), "tms-phases": __version__},
                                "wall_seconds": {k + (" (cached)" if k in inputs.cached else ""): round(v, 1)
                                                 for k, v in inputs.timings.items()},
                                **({"this_run_seconds": {k: round(v, 1) for k, v in inputs.this_run.items()}}
                                   if inputs.this_run else {})}, indent=2, default=str))]
    return blocks


def correspondence_blocks(inputs: ReportInputs, verdicts: ReportVerdicts, figure: Path | None) -> list:
    """The dynamical <-> Bayesian correspondence: the table, the two verdicts on the paper's claim, and
    the Bayesian occupancy against n with every predicted switch."""
    blocks: list = [Heading("Dynamical and Bayesian transitions, move by move")]
    seq = inputs.sequence
    source = ("replica exchange on the population loss, beta = 1"
              if seq is not None and int(seq.attrs.get("population", 0)) else "the leading Bayesian run")
    if figure is not None:
        blocks.append(Figure(figure, f"c = {inputs.c}: the Bayesian occupancy against n ({source}) with every "
                                     "switch of the predicted dominant sequence marked"))
    table = verdicts.correspondence
    if table is None:
        return blocks + [Paragraph("Not computed (no sgd/plateaus.nc).")]
    blocks.append(Table(correspondence_rows(table)[0], correspondence_rows(table)[1:],
                        caption=f"every SGD move made by at least {100 * table.attrs['min_fraction']:.0f}% of "
                                f"{table.attrs['runs']} runs: dL and dlambda with the phases' coefficients "
                                "(exact rank/2, or measured on walls; '-' where neither exists), the n above which "
                                "the free energy prefers the later phase at each convention, whether the "
                                f"Bayesian sequence ({source}: {table.attrs['bayes_sequence'] or 'none'}) makes "
                                "the step, and the SGLD estimates at the protocol's n"))
    blocks.append(Bullets([
        f"c = {inputs.c}, the paper's claim (high loss / low complexity -> low loss / high complexity), with the "
        f"phases' learning coefficients: **{table.attrs['verdict_true']}**",
        f"c = {inputs.c}, the same claim with the SGLD estimates at the protocol's n: "
        f"**{table.attrs['verdict_estimate']}**"]))
    return blocks


def build_report(out: Path, c: int, bayes: dict | None, sgd: dict | None, config: Mapping[str, Any],
                 timings: Mapping[str, float], cached: Sequence[str] = (),
                 this_run: Mapping[str, float] | None = None, **loaded: Any) -> list:
    """Stages 2 and 4 on loaded parts: the report's blocks (figures referenced as ``out/NAME.png``, not drawn).

    ``bayes`` and ``sgd`` as :func:`load_bayes` and :func:`load_sgd` return them; ``loaded``: further
    :class:`ReportInputs` fields (``figure2``, ``compare``, ``study``, ...).
    """
    inputs = ReportInputs(c=c, bayes=bayes, sgd=sgd, config=dict(config), timings=dict(timings),
                          cached=tuple(cached), this_run=this_run, **loaded)
    return lay_out(inputs, compute_verdicts(inputs), {k: Path(out) / f"{k}.png" for k in figure_names(inputs)})


# --- 5. write -----------------------------------------------------------------------------------


def write_report(out: Path, c: int, bayes_dir: Path | None, sgd_dir: Path | None,
                 config: Mapping[str, Any], timings: Mapping[str, float], cached: Sequence[str] = (),
                 this_run: Mapping[str, float] | None = None, *, figure2_dir: Path | None = None,
                 study_dir: Path | None = None, estimator_dirs: Mapping[str, Path] | None = None) -> tuple[Path, Path]:
    """The whole pipeline: load, judge, draw, lay out, then write the figures, ``report.md`` and
    ``report.html`` into ``out``.

    ``bayes_dir`` is the leading Bayesian run, ``figure2_dir`` the figure2 job's folder
    (``figure2.nc``, ``occupancy_compare.nc``), ``study_dir`` the switch over many data sets
    (``switch_summary.nc``), ``estimator_dirs`` the folders of the compared estimators' switches.
    Returns the paths of ``report.md`` and ``report.html``.
    """
    out = Path(out)
    inputs = load_inputs(c, bayes_dir, sgd_dir, figure2_dir=figure2_dir, study_dir=study_dir,
                         estimator_dirs=estimator_dirs, config=config, timings=timings, cached=cached,
                         this_run=this_run)
    verdicts = compute_verdicts(inputs)
    figures = draw_figures(inputs, verdicts)
    paths = {name: out / f"{name}.png" for name in figures}
    blocks = lay_out(inputs, verdicts, paths)
    for name, fig in figures.items():
        save_figure(fig, paths[name])
    md = write_text(out / "report.md", to_markdown(blocks, out))
    html = write_text(out / "report.html", to_html(blocks, f"TMS phase transitions, c = {c}"))
    return md, html
