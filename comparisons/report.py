"""The Bayesian-versus-dynamical report: figures, verdicts, ``report.md`` and ``report.html``.

The report reads the hand-offs the jobs wrote (``bayes/occupancy.nc``, ``bayes/transitions.nc``,
``bayes/diagnostics.nc``, ``sgd/plateaus.nc``) through the validators of
:mod:`comparisons.contracts`; it never imports the engines and never parses their CSV exports. Either half may be missing,
and the report then says so.
"""

from __future__ import annotations

__all__ = ["load_bayes", "load_smc", "load_sgd", "plot_phase_gallery", "plot_comparison", "plot_transition_matrix",
           "build_report", "write_report"]

import csv
import json
import platform
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import __version__
from .analysis import OCCUPANCY_COMPARE_COLUMNS, estimators_verdict, long_occupancy, mixing_verdict
from .contracts import (move_rows, occupancy_dataset, occupancy_rows, path_rows, plateau_rows, read_diagnostics,
                        read_occupancy, read_plateaus, read_switch_summary, read_transitions, table_rows,
                        transitions_records)
from .compare import (bayes_moves, dominant_sequence, learning_coefficients, llc_scale_table, monotone_verdict,
                      phase_coordinates, prediction_verdict, transition_comparison)
from .document import Bullets, Code, Figure, Heading, Paragraph, Table, to_html, to_markdown
from .io import save_figure, write_csv, write_netcdf, write_text
from .theory import dominant_intervals, enumerate_phases
from .theory.kgons import Phase


def load_bayes(folder: Path) -> dict | None:
    """The Bayesian run's hand-offs, read through the validators, or None without ``occupancy.nc``.

    Returns ``{"dir", "estimator", "occupancy" (rows of the first estimator), "transitions",
    "diagnostics", "figure"}``; a malformed file raises :class:`comparisons.contracts.ContractError`.
    """
    folder = Path(folder)
    if not (folder / "occupancy.nc").exists():
        return None
    occ = read_occupancy(folder / "occupancy.nc")
    out: dict[str, Any] = {"dir": folder, "estimator": str(occ["estimator"].values[0]),
                           "occupancy": occupancy_rows(occ)}
    tr = folder / "transitions.nc"
    out["transitions"] = transitions_records(read_transitions(tr)) if tr.exists() else []
    diag = folder / "diagnostics.nc"
    out["diagnostics"] = table_rows(read_diagnostics(diag)) if diag.exists() else []
    png = folder / "occupancy.png"
    out["figure"] = png if png.exists() else None
    return out


def load_sgd(folder: Path) -> dict | None:
    """The SGD ensemble's plateaus (``plateaus.nc``, validated), or None when it is missing.

    Returns ``{"dir", "plateaus" (rows), "paths" ((path, runs, fraction)), "moves" ((run, from,
    to)), "runs" (runs analysed), "staircase_figure", "plateaus_figure"}``: the paths and moves
    are the ones of ``paths.csv`` and ``transitions.csv``, computed once by the SGD job.
    """
    folder = Path(folder)
    if not (folder / "plateaus.nc").exists():
        return None
    ds = read_plateaus(folder / "plateaus.nc")
    out: dict[str, Any] = {"dir": folder, "plateaus": plateau_rows(ds), "paths": path_rows(ds),
                           "moves": move_rows(ds), "runs": int(ds.attrs["runs"])}
    for name in ("staircase", "plateaus"):
        png = folder / f"{name}.png"
        out[f"{name}_figure"] = png if png.exists() else None
    return out


def plot_phase_gallery(phases: Sequence[Phase], path: Path, max_phases: int = 12) -> Path:
    """Each phase as arrows (columns of W) in the plane; biases written at the arrow tips."""
    import matplotlib.pyplot as plt

    shown = list(phases)[:max_phases]
    cols = min(4, len(shown))
    rows = int(np.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    lim = 1.25 * max(max(np.linalg.norm(p.W, axis=0).max(), 0.3) for p in shown)
    for ax, p in zip(axes.ravel(), shown):
        ax.add_patch(plt.Circle((0, 0), 0.05 * lim, color="0.8"))
        for i in range(p.c):
            w, bias = p.W[:, i], p.b[i]
            if np.linalg.norm(w) > 1e-9:
                off = bias <= -(w @ w)
                ax.annotate("", xy=w, xytext=(0, 0), arrowprops=dict(
                    arrowstyle="->", color="0.6" if off else "C0", lw=1.6, ls="--" if off else "-"))
                ax.text(*(w * 1.12), f"{bias:+.2f}", fontsize=7, ha="center", va="center")
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
    return save_figure(fig, path)


def plot_comparison(coords: Mapping[str, tuple[float, float]], bayes_seq: Sequence[Mapping],
                    plateaus: Sequence[Mapping], moves_sgd: Sequence[tuple[int, str, str]], path: Path) -> Path:
    """Both processes on one LLC scale, and the finite-n bias of the SGLD estimates.

    Left: each phase at ``(L(w*), lambda)`` (``coords``: exact or measured coefficients), the
    Bayesian dominant phases with their n ranges and the moves of both processes between phases;
    the SGD plateaus sit at their phase's coordinates, so both processes share one scale. Right:
    every SGD plateau's SGLD estimate at the protocol's n against its phase's coefficient, with
    the line ``estimate = coefficient``.
    """
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1.5, 1]})
    seen = {s["phase"] for s in bayes_seq} | {str(r["phase"]) for r in plateaus}
    counts = Counter(str(r["phase"]) for r in plateaus)
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
    ax.set_xlabel("population loss L")
    ax.set_ylabel("learning coefficient (exact, or measured on walls)")
    ax.set_title("Bayesian (blue, n increasing) and SGD (orange, time increasing)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    pl = [(str(r["phase"]), r["llc"]) for r in plateaus
          if str(r["phase"]) in coords and r.get("llc") is not None and np.isfinite(r["llc"])]
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
    ax2.set_xlabel("phase's learning coefficient")
    ax2.set_ylabel("SGLD estimate of the plateau at the protocol's n")
    ax2.set_title("finite-n bias of the SGD plateaus' estimates", fontsize=10)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_transition_matrix(moves_sgd: Sequence[tuple[int, str, str]], path: Path) -> Path:
    """Heat map of SGD transition counts (row: from, column: to)."""
    import matplotlib.pyplot as plt

    labels = sorted({a for _, a, _ in moves_sgd} | {b for _, _, b in moves_sgd})
    idx = {lab: i for i, lab in enumerate(labels)}
    M = np.zeros((len(labels), len(labels)), dtype=int)
    for _, a, b in moves_sgd:
        M[idx[a], idx[b]] += 1
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * max(len(labels), 2), 1.0 + 0.6 * max(len(labels), 2)))
    ax.imshow(M, cmap="Blues")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if M[i, j]:
                ax.text(j, i, str(M[i, j]), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=45)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    ax.set_title("SGD transitions between phases (counts over runs)")
    return save_figure(fig, path)


def _package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version(), "tms-phases": __version__}
    for name in ("numpy", "scipy", "xarray", "torch", "pymc", "pytensor", "arviz", "nutpie"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def bayes_diagnostics_blocks(diagnostics: Sequence[Mapping]) -> list:
    """The convergence table of the Bayesian run and its verdict (every n, flagged where not mixed)."""
    if not diagnostics:
        return []
    answer, flagged = mixing_verdict(diagnostics)
    rows = [r for r in diagnostics if str(r.get("phase", "all")) == "all"]
    pt = "swap_accept_next" in rows[0]
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
            Table(cols, [[r.get(k) for k in cols] for r in rows],
                  caption="convergence per n: R-hat and bulk ESS of the loss (an invariant of the symmetries)"
                          + ("; swap acceptance to the next rung and round trips of the replica exchange" if pt
                             else "; NUTS divergences and within-chain phase switches"))]


def estimator_name(bayes: Mapping) -> str:
    """The estimator of a Bayesian folder's occupancy: ``"pt"``, ``"nuts_bridge"`` (``occupancy.nc``)
    or ``"smc"`` (:func:`load_smc`)."""
    return bayes["estimator"]


def load_smc(folder: Path | None) -> dict | None:
    """SMC's particle occupancy (``smc_occupancy.csv`` of ``tms-phases free-energy``), or None.

    Returns ``{"dir", "estimator": "smc", "occupancy" (rows ``n, phase, fraction, lower, upper``,
    numbers as floats, NaN for empty), "transitions": []}``.
    """
    path = Path(folder) / "smc_occupancy.csv" if folder else None
    if path is None or not path.exists():
        return None
    with open(path, newline="") as fh:
        rows = [{"n": float(r["n"]), "phase": str(r["phase"]),
                 **{k: float(r[k]) if r.get(k) not in ("", None) else float("nan")
                    for k in ("fraction", "lower", "upper")}} for r in csv.DictReader(fh)]
    return {"dir": Path(folder), "estimator": "smc", "occupancy": rows, "transitions": []}


def estimators_blocks(rows: Sequence[Mapping], names: Sequence[str]) -> list:
    """Where several occupancy estimators agree: every pair, and the one that stands apart."""
    v = estimators_verdict(rows, names)

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
    return [Paragraph("Each cell is a phase and an n with a fraction of at least 0.05 in either estimator of a "
                      "pair. Verdict: " + verdict), Bullets(lines)]


def comparison_blocks(out: Path, primary: dict | None, second: dict | None, third: dict | None = None) -> list:
    """The occupancy estimators side by side: ``occupancy_compare.nc`` (the occupancy hand-off with
    every estimator on its ``estimator`` coordinate), its export ``occupancy_compare.csv``, and
    where they agree."""
    present = [e for e in (primary, second, third) if e]
    if len(present) < 2:
        return []
    names = [estimator_name(e) for e in present]
    if len(set(names)) < len(names):
        names = [f"{nm}_{i + 1}" for i, nm in enumerate(names)]
    estimates = {nm: e["occupancy"] for nm, e in zip(names, present)}
    write_netcdf(occupancy_dataset(estimates), out / "occupancy_compare.nc")  # side by side
    rows = long_occupancy(estimates)
    write_csv(out / "occupancy_compare.csv", rows, OCCUPANCY_COMPARE_COLUMNS)
    count = {2: "two", 3: "three"}.get(len(names), str(len(names)))
    blocks = [Heading(f"Bayesian: {count} estimators of the occupancy"),
              Paragraph(" against ".join(f"`{nm}`" for nm in names) + " on the same data. The table is "
                        "`occupancy_compare.csv` (n, phase, estimator, fraction, lower, upper).")]
    blocks += estimators_blocks(rows, names)
    first, other = present[0], present[1]
    ta = {(t["from"], t["to"], t.get("level")): t for t in first["transitions"]}
    tb = {(t["from"], t["to"], t.get("level")): t for t in other["transitions"]}
    both = [k for k in ta if k in tb and k[2] == "phase"]
    if both:
        blocks.append(Table(["from", "to", f"n ({names[0]})", "interval", f"n ({names[1]})", "interval"],
                            [[a, b, ta[(a, b, lv)]["n"], f"{ta[(a, b, lv)]['lower']:.0f}-{ta[(a, b, lv)]['upper']:.0f}",
                              tb[(a, b, lv)]["n"], f"{tb[(a, b, lv)]['lower']:.0f}-{tb[(a, b, lv)]['upper']:.0f}"]
                             for a, b, lv in both], caption=f"the same switches by {names[0]} and {names[1]}"))
    return blocks


def study_blocks(study_dir: Path | None) -> list:
    """The switch over many data sets and both likelihood conventions (``switch_summary.nc``)."""
    if study_dir is None or not (Path(study_dir) / "switch_summary.nc").exists():
        return []
    summary = table_rows(read_switch_summary(Path(study_dir) / "switch_summary.nc"), "switch_summary")
    blocks = [Heading("Bayesian: the switch over data sets and conventions"),
              Paragraph("One data set is one draw of a random switch point. Each row: the switch n over the "
                        "data sets (mean, sd, each value), on the population loss (no data noise), and the "
                        "free-energy predictions at that beta. The O(1) prediction is judged against the "
                        "population value.")]
    rows = []
    for r in summary:
        pop, lap = r.get("population"), r.get("predicted_n_laplace")
        judged = ("-" if not (isinstance(pop, float) and isinstance(lap, float) and np.isfinite([pop, lap]).all())
                  else f"{lap / pop:.2f}")
        run = r.get("datasets_run")
        rows.append([r["convention"], r["beta"], f"{r['from']} -> {r['to']}",
                     f"{r['datasets']:.0f} of {run:.0f}" if isinstance(run, (int, float)) and run == run else r["datasets"],
                     r["mean"], r["sd"], str(r["values"]), pop, r.get("predicted_n"), lap, judged,
                     "yes" if str(r.get("all_mixed")).lower() in ("true", "1", "1.0") else "no"])
    blocks.append(Table(["convention", "beta", "switch", "data sets that switch", "mean n", "sd", "values", "population",
                         "predicted (asymptotic)", "predicted (O(1))", "O(1) / population", "all mixed"], rows,
                        caption="tempered: beta = 1; gaussian-sigma1: beta = 1/2, the convention of the "
                                "authors' public NUTS code"))
    png = Path(study_dir) / "switches.png"
    if png.exists():
        blocks.append(Figure(png, "switch n per data set (dots with 95% intervals), population loss (star), "
                                  "predictions (green); purple band: where the paper reports its switch, near "
                                  "the asymptotic crossing at beta = 1"))
    return blocks


def _coefficient_text(p: Phase) -> str | float:
    """The phase's learning coefficient as the report shows it: exact, measured (with SE), or a bound."""
    if p.llc is not None:
        return p.llc
    if p.llc_measured is not None:
        return f"{p.llc_measured:.2f} +- {p.llc_se:.2f} (measured; wall)"
    return f"<= {p.llc_bound:g} (wall)"


def build_report(out: Path, c: int, bayes: dict | None, sgd: dict | None, config: Mapping[str, Any],
                 timings: Mapping[str, float], cached: Sequence[str] = (),
                 this_run: Mapping[str, float] | None = None, second: dict | None = None,
                 study_dir: Path | None = None, third: dict | None = None) -> list:
    """Compute the figures and verdicts and return the report as a list of document blocks.

    ``timings`` are the seconds of computation behind each stage's results; stages in ``cached``
    were (partly) computed by an earlier run, their time is the one recorded then and they are
    marked ``(cached)``; ``this_run`` gives what this run spent. ``second`` and ``third`` are
    further estimators of the Bayesian occupancy (:func:`load_bayes`, :func:`load_smc`),
    ``study_dir`` the switch over many data sets.
    """
    out = Path(out)
    phases = enumerate_phases(c)
    sgd_llc: dict[str, float] = {}
    if sgd:
        per: dict[str, list[float]] = {}
        for r in sgd["plateaus"]:
            if np.isfinite(r.get("llc", np.nan)):
                per.setdefault(r["phase"], []).append(r["llc"])
        sgd_llc = {k: float(np.median(v)) for k, v in per.items()}
    coords = phase_coordinates(phases)
    # one LLC scale: exact rank/2 where the loss is C^2, measured on the walls (no bounds)
    coef = learning_coefficients(phases)
    true_coords = {p.label: (p.loss, coef[p.label][0]) for p in phases if p.label in coef}
    blocks: list = [Heading(f"Phase transitions in the Toy Model of Superposition (c = {c}, r = 2)", 1),
                    Paragraph("Generated by `tms-phases reproduce`. Theory from the closed-form potential; "
                              "Bayesian occupancy from "
                              + ("replica exchange over the n-ladder" if bayes and estimator_name(bayes) == "pt"
                                 else "NUTS chains with ladder-bridge reweighting")
                              + ("" if not (second or third) else " (beside it: "
                                 + ", ".join(f"`{estimator_name(e)}`" for e in (second, third) if e) + ")")
                              + "; dynamics from an SGD ensemble with SGLD estimates of the local learning "
                                "coefficient.")]

    # --- verdicts first: they are what a reader looks for
    verdicts = []
    b_moves = bayes_moves(bayes["occupancy"]) if bayes else []
    s_moves = sgd["moves"] if sgd else []
    if bayes:
        verdicts.append(monotone_verdict("Bayesian (n increasing; the phases' learning coefficients)", b_moves,
                                         true_coords))
        verdicts.extend(prediction_verdict(bayes["transitions"]))
    if sgd:
        verdicts.append(monotone_verdict("SGD (time increasing; the phases' learning coefficients)",
                                         [(a, b) for _, a, b in s_moves], true_coords))
        sgd_coords = {k: (coords[k][0], sgd_llc[k]) for k in coords if k in sgd_llc}
        verdicts.append(monotone_verdict("SGD (time increasing; SGLD plateau estimates at the protocol's n)",
                                         [(a, b) for _, a, b in s_moves], sgd_coords))
    if bayes and sgd:
        only_b = sorted(set(b_moves) - {(a, b) for _, a, b in s_moves})
        only_s = sorted({(a, b) for _, a, b in s_moves} - set(b_moves))
        both = sorted(set(b_moves) & {(a, b) for _, a, b in s_moves})
        blocks_v = [f"Transitions in both processes: {', '.join(f'{a}->{b}' for a, b in both) or 'none'}",
                    f"Only Bayesian: {', '.join(f'{a}->{b}' for a, b in only_b) or 'none'}",
                    f"Only SGD: {', '.join(f'{a}->{b}' for a, b in only_s) or 'none'}"]
    else:
        blocks_v = []
    blocks += [Heading("Verdicts"), Bullets([v.line() for v in verdicts] + blocks_v or ["no engine output found"])]

    # --- theory
    gallery = plot_phase_gallery(phases, out / "phases.png")
    dom = dominant_intervals(phases, 10, 1e6)
    blocks += [Heading("The phases (theory)"),
               Table(["phase", "loss", "learning coefficient", "LLC estimate (SGD plateaus, median)", "prior term"],
                     [[p.label, p.loss, _coefficient_text(p), sgd_llc.get(p.label), p.prior_term]
                      for p in phases[:14]],
                     caption="lowest-loss phases; the full list: tms-phases kgons --features " + str(c)),
               Figure(gallery, "k-gon critical points"),
               Table(["from n", "to n", "dominant phase (free energy)"],
                     [[d["n_from"], d["n_to"], d["phase"]] for d in dom],
                     caption="F_n = n L + llc log n + |w*|^2 / 2")]

    # --- Bayesian
    blocks.append(Heading("Bayesian: posterior phase occupancy against n"))
    if bayes:
        seq = dominant_sequence(bayes["occupancy"])
        if bayes.get("figure"):
            if estimator_name(bayes) == "pt":
                caption = ("fraction of replica-exchange draws per phase, with 95% bootstrap bands over the "
                           "copies; dashed vertical lines: free-energy crossings at the run's beta; shaded: "
                           "measured switches; purple band: where the paper reports its 5 -> 6 switch, near the "
                           "asymptotic crossing at beta = 1")
            else:
                caption = ("posterior mass per phase by ladder-bridge reweighting, with 95% bootstrap bands "
                           "over chains; dashed: raw draw fractions; vertical lines: free-energy crossings "
                           "(dotted red: with O(1) terms)")
            blocks.append(Figure(bayes["figure"], caption))
        blocks.append(Table(["phase", "leads from n", "to n", "largest fraction", "unclassified (max)",
                             "leads all mass"],
                            [[s["phase"], s["n_from"], s["n_to"], s["fraction"], s["unclassified"],
                              "yes" if s["leads_all_mass"] else "classified draws only"] for s in seq],
                            caption="the leading classified phase along n; where the unclassified share is "
                                    "larger, the phase leads the classified draws only"))
        if bayes["transitions"]:
            _, flagged = mixing_verdict(bayes.get("diagnostics", []))

            def mixed(t):
                around = {int(t[k]) for k in ("n_before", "n_after") if t.get(k) is not None}
                return "-" if not around else ("no: n = " + ", ".join(map(str, sorted(around & set(flagged))))
                                               if around & set(flagged) else "yes")

            blocks.append(Table(["level", "from", "to", "n", "lower", "upper", "predicted n (asymptotic)",
                                 "predicted n (with O(1) terms)", "beta", "chains mixed around it"],
                                [[t.get("level", "phase"), t["from"], t["to"], t.get("n"), t.get("lower"),
                                  t.get("upper"), t.get("predicted_n"), t.get("predicted_n_laplace"),
                                  t.get("beta", 1.0), mixed(t)]
                                 for t in bayes["transitions"]],
                                caption="measured switches of the dominant phase (95% bootstrap interval "
                                        "over chains) and the free-energy predictions at the run's beta"))
        blocks += bayes_diagnostics_blocks(bayes.get("diagnostics", []))
    else:
        seq = []
        blocks.append(Paragraph("Not run (no bayes/occupancy.nc)."))

    blocks += comparison_blocks(out, bayes, second, third)
    blocks += study_blocks(study_dir)

    # --- SGD
    blocks.append(Heading("Dynamical: SGD trajectories"))
    if sgd:
        for key, cap in (("staircase_figure", "loss and LLC against step; k-gon loss levels as lines"),
                         ("plateaus_figure", "plateau loss against plateau LLC")):
            if sgd.get(key):
                blocks.append(Figure(sgd[key], cap))
        if s_moves:
            blocks.append(Figure(plot_transition_matrix(s_moves, out / "sgd_transitions.png"),
                                 "SGD transition counts"))
        blocks.append(Table(["path", "runs", "fraction"], [list(p) for p in sgd["paths"][:12]],
                            caption=f"distinct phase paths over {sgd['runs']} runs"))
    else:
        blocks.append(Paragraph("Not run (no sgd/plateaus.nc)."))

    # --- the comparison
    blocks.append(Heading("Bayesian versus dynamical"))
    if bayes or sgd:
        fig = plot_comparison(true_coords, seq, sgd["plateaus"] if sgd else [], s_moves, out / "comparison.png")
        blocks.append(Figure(fig, "left: loss against learning coefficient (exact rank/2, or measured on the "
                                  "non-C^2 walls), the moves of both processes between phases; right: the "
                                  "SGLD estimate of each SGD plateau at the protocol's n against its phase's "
                                  "coefficient (the finite-n bias)"))
        if sgd:
            scale = llc_scale_table(phases, sgd["plateaus"])
            blocks.append(Table(["phase", "loss", "learning coefficient", "se", "kind", "SGD plateaus",
                                 "SGLD estimate (median)", "IQR", "estimate - coefficient"],
                                [[r["phase"], r["loss"], r["llc"], r["llc_se"], r["kind"], r["plateaus"],
                                  r["estimate"], r["estimate_iqr"], r["bias"]] for r in scale],
                                caption="one LLC scale: each phase's learning coefficient beside the SGLD "
                                        "estimates of the SGD plateaus in it"))
        rows = transition_comparison(bayes["transitions"] if bayes else [], s_moves, sgd["runs"] if sgd else 0)
        blocks.append(Table(["from", "to", "Bayesian n", "interval", "predicted n", "predicted n (O(1))",
                             "SGD count", "SGD runs"],
                            [[r["from"], r["to"], r["bayes_n"],
                              "-" if r["bayes_interval"][0] is None else
                              f"{r['bayes_interval'][0]:.0f}-{r['bayes_interval'][1]:.0f}",
                              r["predicted_n"], r.get("predicted_n_laplace"), r["sgd_count"],
                              r["sgd_runs_fraction"]] for r in rows],
                            caption="moves made by each process: the critical n of each Bayesian switch "
                                    "and how often SGD makes the same move"))

    # --- provenance
    versions = _package_versions()
    blocks += [Heading("Reproducibility"),
               Code(json.dumps({"config": config, "versions": versions,
                                "wall_seconds": {k + (" (cached)" if k in cached else ""): round(v, 1)
                                                 for k, v in timings.items()},
                                **({"this_run_seconds": {k: round(v, 1) for k, v in this_run.items()}}
                                   if this_run else {})}, indent=2, default=str))]
    return blocks


def write_report(out: Path, c: int, bayes_dir: Path | None, sgd_dir: Path | None,
                 config: Mapping[str, Any], timings: Mapping[str, float], cached: Sequence[str] = (),
                 this_run: Mapping[str, float] | None = None, second_bayes_dir: Path | None = None,
                 study_dir: Path | None = None, smc_dir: Path | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and the self-contained ``report.html`` into ``out``.

    ``second_bayes_dir`` holds a second estimator of the same occupancy (e.g. the NUTS ladder
    bridge beside replica exchange), ``smc_dir`` a ``tms-phases free-energy`` folder whose SMC
    particles give a third (``smc_occupancy.csv``): they go side by side into
    ``occupancy_compare.nc`` and ``occupancy_compare.csv``. ``study_dir`` holds the switch over
    many data sets (``switch_summary.nc``).
    """
    out = Path(out)
    bayes = load_bayes(bayes_dir) if bayes_dir else None
    second = load_bayes(second_bayes_dir) if second_bayes_dir else None
    sgd = load_sgd(sgd_dir) if sgd_dir else None
    blocks = build_report(out, c, bayes, sgd, config, timings, cached, this_run, second=second,
                          study_dir=study_dir, third=load_smc(smc_dir))
    md = write_text(out / "report.md", to_markdown(blocks, out))
    html = write_text(out / "report.html", to_html(blocks, f"TMS phase transitions, c = {c}"))
    return md, html
