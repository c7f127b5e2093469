"""Dynamical phases: label checkpoints, cut loss curves into plateaus, summarise the ensemble.

A *plateau* is a maximal stretch of consecutive checkpoints with one classified phase label
(:func:`comparisons.theory.classify`) over which the empirical loss stays within
``atol + rtol * level`` of the stretch's median level, and that spans at least ``min_points``
checkpoints; consecutive plateaus with the same label are merged (the phase did not change).
Everything between plateaus is a transition. All functions are pure functions of the trajectory
Dataset.
"""

from __future__ import annotations

__all__ = ["Plateau", "label_checkpoints", "segment_run", "phase_sequences", "transition_counts",
           "transition_matrix", "time_in_phase", "path_fractions", "plateau_rank_correlation",
           "count_paper_sequence", "DIVERGED", "PLATEAU_RTOL", "PLATEAU_ATOL", "PLATEAU_MIN_POINTS"]

from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from comparisons.errors import InputError
from comparisons.theory import UNCLASSIFIED, classify_dataarrays

#: relative and absolute loss tolerance of a plateau, and its minimal number of checkpoints
PLATEAU_RTOL = 0.02
PLATEAU_ATOL = 1e-3
PLATEAU_MIN_POINTS = 2


class Plateau(NamedTuple):
    """One plateau of one run: its phase, first/last checkpoint step, median loss and LLC."""

    order: int
    phase: str
    start_step: int
    end_step: int
    loss: float
    llc: float
    points: int


#: label of the checkpoints of a run after it diverged (non-finite parameters)
DIVERGED = "diverged"


def label_checkpoints(ds: xr.Dataset) -> xr.Dataset:
    """Add ``phase (run, step)`` and ``phase_distance (run, step)`` from the theory classifier.

    Checkpoints with non-finite parameters (a diverged run, see :func:`sgd_tms.train.train`) are
    labelled ``"diverged"`` with distance NaN; they are not passed to the classifier.
    """
    W, b = ds["W"], ds["b"]
    bad = ~(np.isfinite(W).all(("hidden", "feature")) & np.isfinite(b).all("feature"))
    if bool(bad.any()):
        W, b = W.where(~bad, 0.0), b.where(~bad, 0.0)
    phase, dist = classify_dataarrays(W, b)
    phase = phase.astype(str)
    if bool(bad.any()):
        phase = phase.astype(object).where(~bad, DIVERGED).astype(str)
        dist = dist.where(~bad)
    return ds.assign(phase=phase, phase_distance=dist)


def segment_run(steps: Sequence[int], loss: Sequence[float], labels: Sequence[str],
                llc: Sequence[float] | None = None, rtol: float = PLATEAU_RTOL,
                atol: float = PLATEAU_ATOL, min_points: int = PLATEAU_MIN_POINTS) -> list[Plateau]:
    """Cut one run's checkpoints into plateaus (see the module docstring).

    Parameters
    ----------
    steps, loss, labels : sequences of length T
        Checkpoint steps (increasing), empirical losses and phase labels.
    llc : sequence of length T, optional
        LLC per checkpoint; a plateau's LLC is the median over its finite values.

    Returns
    -------
    list of Plateau, in time order
    """
    steps = np.asarray(steps)
    loss = np.asarray(loss, dtype=float)
    labels = np.asarray(labels).astype(str)
    T = len(steps)
    if not (len(loss) == len(labels) == T):
        raise InputError(f"segment_run: expected equal lengths, got {T}, {len(loss)}, {len(labels)}")
    llc = np.full(T, np.nan) if llc is None else np.asarray(llc, dtype=float)
    segments: list[list[int]] = []
    cur: list[int] = []
    for t in range(T):
        if cur:
            level = float(np.median(loss[cur]))
            same = labels[t] == labels[cur[0]] and abs(loss[t] - level) <= atol + rtol * abs(level)
            if same and np.isfinite(loss[t]):
                cur.append(t)
                continue
            segments.append(cur)
        cur = [t]
    if cur:
        segments.append(cur)
    kept = [s for s in segments if labels[s[0]] != UNCLASSIFIED and len(s) >= min_points]
    merged: list[list[int]] = []
    for s in kept:
        if merged and labels[merged[-1][0]] == labels[s[0]]:
            merged[-1] = merged[-1] + s
        else:
            merged.append(list(s))
    out = []
    for i, s in enumerate(merged):
        vals = llc[s]
        vals = vals[np.isfinite(vals)]
        out.append(Plateau(i, str(labels[s[0]]), int(steps[s[0]]), int(steps[s[-1]]),
                           float(np.median(loss[s])), float(np.median(vals)) if vals.size else float("nan"),
                           len(s)))
    return out


def phase_sequences(ds: xr.Dataset, **kwargs) -> pd.DataFrame:
    """One row per plateau: ``run, order, phase, start_step, end_step, loss, llc, points``.

    Labels checkpoints first if ``ds`` has no ``phase``; ``kwargs`` go to :func:`segment_run`.
    Runs flagged ``diverged`` are left out.
    """
    if "phase" not in ds:
        ds = label_checkpoints(ds)
    steps = ds["step"].values
    rows = []
    has_llc = "llc" in ds
    skip = np.asarray(ds["diverged"].values, dtype=bool) if "diverged" in ds else np.zeros(ds.sizes["run"], bool)
    for i, run in enumerate(ds["run"].values):
        if skip[i]:
            continue
        plats = segment_run(steps, ds["loss"].values[i], ds["phase"].values[i],
                            ds["llc"].values[i] if has_llc else None, **kwargs)
        rows += [{"run": int(run), **p._asdict()} for p in plats]
    cols = ["run", "order", "phase", "start_step", "end_step", "loss", "llc", "points"]
    return pd.DataFrame(rows, columns=cols)


def transition_counts(seq: pd.DataFrame) -> pd.DataFrame:
    """Counts of consecutive plateau pairs: columns ``from, to, count`` (most frequent first)."""
    pairs: dict[tuple[str, str], int] = {}
    for _, g in seq.sort_values(["run", "order"]).groupby("run"):
        ph = list(g["phase"])
        for a, b in zip(ph[:-1], ph[1:]):
            pairs[(a, b)] = pairs.get((a, b), 0) + 1
    df = pd.DataFrame([(a, b, n) for (a, b), n in pairs.items()], columns=["from", "to", "count"])
    return df.sort_values(["count", "from", "to"], ascending=[False, True, True]).reset_index(drop=True)


def transition_matrix(seq: pd.DataFrame) -> xr.DataArray:
    """Transition counts as a DataArray with dims ``(from_phase, to_phase)``."""
    tc = transition_counts(seq)
    labels = sorted(set(seq["phase"]))
    m = xr.DataArray(np.zeros((len(labels), len(labels)), dtype=np.int64),
                     dims=("from_phase", "to_phase"),
                     coords={"from_phase": labels, "to_phase": labels}, name="transitions")
    for a, b, n in tc.itertuples(index=False):
        m.loc[a, b] = n
    return m


def time_in_phase(seq: pd.DataFrame) -> pd.DataFrame:
    """Per phase: plateaus, and the mean / median / max steps spent on a plateau of it."""
    d = seq.assign(duration=seq["end_step"] - seq["start_step"])
    g = d.groupby("phase")["duration"]
    return pd.DataFrame({"plateaus": g.size(), "mean_steps": g.mean(), "median_steps": g.median(),
                         "max_steps": g.max()}).reset_index()


def path_fractions(seq: pd.DataFrame, runs: int | None = None) -> pd.DataFrame:
    """Fraction of runs following each distinct phase path (``"4 > 4+ > 5"``)."""
    paths = seq.sort_values(["run", "order"]).groupby("run")["phase"].agg(" > ".join)
    total = runs if runs is not None else len(paths)
    counts = paths.value_counts()
    if runs is not None and runs > len(paths):
        counts = pd.concat([counts, pd.Series({"(no plateau)": runs - len(paths)})])
    return pd.DataFrame({"path": counts.index, "runs": counts.values,
                         "fraction": counts.values / max(total, 1)})


def plateau_rank_correlation(seq: pd.DataFrame) -> tuple[float, int]:
    """Spearman rank correlation of plateau loss against plateau LLC, and the number of plateaus."""
    from scipy.stats import spearmanr

    llc = pd.to_numeric(seq["llc"], errors="coerce").astype(float)
    loss = pd.to_numeric(seq["loss"], errors="coerce").astype(float)
    ok = (np.isfinite(llc) & np.isfinite(loss)).to_numpy()
    if ok.sum() < 3:
        return float("nan"), int(ok.sum())
    return float(spearmanr(loss[ok], llc[ok]).statistic), int(ok.sum())


def _k(label: str) -> int:
    digits = "".join(ch for ch in label if ch.isdigit())
    return int(digits) if digits else -1


def count_paper_sequence(seq: pd.DataFrame) -> int:
    """Runs showing the paper's Figure 1 pattern: a 4-family plateau, later a 5-gon-family one."""
    count = 0
    for _, g in seq.sort_values(["run", "order"]).groupby("run"):
        ks = [_k(p) for p in g["phase"]]
        if 4 in ks and 5 in ks[ks.index(4):]:
            count += 1
    return count
