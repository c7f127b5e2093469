"""Dynamical phases: label checkpoints, cut loss curves into plateaus, summarise the ensemble.

Two labellings of a checkpoint (``labelling=``):

- ``"structure"`` (default): :func:`comparisons.theory.classify`, from the roles of the columns
  (present / firing / dead with positive bias) and the distance to the matching phase;
- ``"loss"``: the enumerated phase whose exact loss level is nearest to the checkpoint's
  population (or training) loss, when within a tolerance (:func:`label_by_loss`); the way a
  loss curve read against the k-gon levels labels it.

A *plateau* is a maximal stretch of consecutive checkpoints with one classified phase label
over which the empirical loss stays within
``atol + rtol * level`` of the stretch's median level, and that spans at least ``min_points``
checkpoints; consecutive plateaus with the same label are merged (the phase did not change).
Everything between plateaus is a transition. All functions are pure functions of the trajectory
Dataset.
"""

from __future__ import annotations

__all__ = ["Plateau", "label_checkpoints", "segment_run", "phase_sequences", "labelled_plateaus", "phase_moves",
           "transition_counts",
           "transition_matrix", "time_in_phase", "path_fractions", "plateau_rank_correlation",
           "count_paper_sequence", "count_subsequence", "loss_levels", "default_loss_tolerance",
           "label_by_loss", "LabellingComparison", "compare_labellings", "LABELLINGS", "DIVERGED",
           "LOSS_TOL_FRACTION", "PLATEAU_RTOL", "PLATEAU_ATOL", "PLATEAU_MIN_POINTS"]

from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from comparisons.contracts import PLATEAU_COLUMNS, validate_plateaus
from comparisons.errors import InputError, check_positive_float
from comparisons.theory import UNCLASSIFIED, classify_dataarrays, enumerate_phases
from comparisons.theory.classify import PRESENT_NORM

#: relative and absolute loss tolerance of a plateau, and its minimal number of checkpoints
PLATEAU_RTOL = 0.02
PLATEAU_ATOL = 1e-3
PLATEAU_MIN_POINTS = 2
#: the checkpoint labellings understood by :func:`label_checkpoints`
LABELLINGS = ("structure", "loss")
#: default loss-level tolerance as a fraction of the smallest gap between neighbouring levels:
#: below one half, no loss is within tolerance of two levels; at one quarter, the middle half of
#: every gap (where a loss curve is between plateaus) stays unclassified
LOSS_TOL_FRACTION = 0.25
#: loss levels closer than this are one level (phases with equal loss, e.g. "3++" and "4++-")
_LEVEL_MERGE = 1e-9
#: loss variables a loss-level labelling can read
_LOSS_VARIABLES = ("population_loss", "loss")


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


def loss_levels(c: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct loss levels of the enumerated phases and their labels.

    Parameters
    ----------
    c : int
        Number of features.

    Returns
    -------
    levels : ndarray of float, shape (M,)
        Distinct values of ``Phase.loss`` over :func:`comparisons.theory.enumerate_phases`,
        ascending.
    labels : ndarray of str, shape (M,)
        The phase at each level; phases sharing a level (within 1e-9) are joined with ``"/"`` in
        enumeration order, e.g. ``"3++/4++-"`` (the loss cannot tell them apart).
    """
    levels: list[float] = []
    names: list[list[str]] = []
    for p in enumerate_phases(c):
        if levels and abs(p.loss - levels[-1]) <= _LEVEL_MERGE:
            names[-1].append(p.label)
        else:
            levels.append(p.loss)
            names.append([p.label])
    return np.asarray(levels), np.asarray(["/".join(n) for n in names])


def default_loss_tolerance(c: int, fraction: float = LOSS_TOL_FRACTION) -> float:
    """``fraction`` times the smallest gap between neighbouring levels of :func:`loss_levels`.

    For c = 6 the smallest gap is ``1/144`` (the gain of one ``+`` decoration, e.g. 4 -> 4+), so
    the default tolerance is ``1/576 = 0.00174``.
    """
    levels, _ = loss_levels(c)
    if levels.size < 2:
        raise InputError(f"loss levels: expected at least two phases for c = {c}, got {levels.size}")
    return float(fraction * np.min(np.diff(levels)))


def label_by_loss(loss: np.ndarray, c: int, tolerance: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Label losses by the nearest phase loss level.

    Parameters
    ----------
    loss : array_like, shape (...)
        Population (or training) losses of checkpoints.
    c : int
        Number of features (selects :func:`loss_levels`).
    tolerance : float, optional
        Largest accepted ``|loss - level|``; default :func:`default_loss_tolerance`.

    Returns
    -------
    labels : ndarray of str, shape (...)
        The nearest level's label (:func:`loss_levels`), or ``"unclassified"`` when it is
        farther than ``tolerance`` or the loss is not finite.
    offset : ndarray of float, shape (...)
        ``loss - level`` of the nearest level (NaN for non-finite losses).
    """
    loss = np.asarray(loss, dtype=float)
    tol = default_loss_tolerance(c) if tolerance is None else tolerance
    check_positive_float("loss tolerance", tol, allow_zero=True)
    levels, names = loss_levels(c)
    j = np.argmin(np.abs(loss[..., None] - levels), axis=-1)
    offset = np.where(np.isfinite(loss), loss - levels[j], np.nan)
    ok = np.abs(offset) <= tol  # False for NaN
    labels = np.where(ok, names[j], UNCLASSIFIED).astype(str)
    return labels, offset


def label_checkpoints(ds: xr.Dataset, labelling: str = "structure",
                      loss_variable: str = "population_loss",
                      tolerance: float | None = None) -> xr.Dataset:
    """Add ``phase (run, step)`` and ``phase_distance (run, step)`` to a trajectory.

    Checkpoints with non-finite parameters (a diverged run, see :func:`sgd_tms.train.train`) are
    labelled ``"diverged"`` by structure (distance NaN) and ``"unclassified"`` by loss level.

    Parameters
    ----------
    ds : xarray.Dataset
        Trajectory with ``W (run, step, hidden, feature)``, ``b (run, step, feature)`` and, for
        ``labelling="loss"``, ``loss_variable (run, step)``.
    labelling : {"structure", "loss"}
        ``"structure"``: :func:`comparisons.theory.classify_dataarrays` (``phase_distance`` is the
        symmetry-reduced distance to the phase); ``"loss"``: :func:`label_by_loss` on
        ``ds[loss_variable]`` (``phase_distance`` is ``loss - level`` of the nearest level).
    loss_variable : {"population_loss", "loss"}
        Which loss the loss-level labelling reads (exact population loss, or training loss).
    tolerance : float, optional
        Loss-level tolerance (default :func:`default_loss_tolerance`); loss labelling only.

    Returns
    -------
    xarray.Dataset
        ``ds`` with ``phase`` (attrs ``labelling``, and ``loss_variable``, ``tolerance`` for the
        loss labelling) and ``phase_distance``.
    """
    if labelling not in LABELLINGS:
        raise InputError(f"labelling: expected one of {LABELLINGS}, got {labelling!r}")
    if labelling == "structure":
        W, b = ds["W"], ds["b"]
        bad = ~(np.isfinite(W).all(("hidden", "feature")) & np.isfinite(b).all("feature"))
        if bool(bad.any()):
            W, b = W.where(~bad, 0.0), b.where(~bad, 0.0)
        phase, dist = classify_dataarrays(W, b)
        phase = phase.astype(str)
        if bool(bad.any()):
            phase = phase.astype(object).where(~bad, DIVERGED).astype(str)
            dist = dist.where(~bad)
        phase.attrs = {"labelling": "structure"}
        return ds.assign(phase=phase, phase_distance=dist)
    if loss_variable not in _LOSS_VARIABLES:
        raise InputError(f"loss_variable: expected one of {_LOSS_VARIABLES}, got {loss_variable!r}")
    if loss_variable not in ds:
        raise InputError(f"loss labelling: expected variable {loss_variable!r} in the trajectory, "
                         f"got {sorted(ds.data_vars)}")
    c = ds.sizes["feature"]
    tol = default_loss_tolerance(c) if tolerance is None else float(tolerance)
    da = ds[loss_variable].transpose("run", "step")
    labels, offset = label_by_loss(da.values, c, tol)
    coords = {d: da.coords[d] for d in da.dims if d in da.coords}
    phase = xr.DataArray(labels, dims=da.dims, coords=coords, name="phase",
                         attrs={"labelling": "loss", "loss_variable": loss_variable, "tolerance": tol})
    dist = xr.DataArray(offset, dims=da.dims, coords=coords, name="phase_distance")
    return ds.assign(phase=phase, phase_distance=dist)


def _labelled(ds: xr.Dataset, labelling: str, loss_variable: str, tolerance: float | None) -> xr.Dataset:
    """``ds`` with ``phase`` from the requested labelling (reused when it is already there)."""
    if "phase" in ds:
        a = ds["phase"].attrs
        have = a.get("labelling", "structure")
        if have == labelling == "structure":
            return ds
        c = ds.sizes["feature"]
        tol = default_loss_tolerance(c) if tolerance is None else float(tolerance)
        if have == labelling == "loss" and a.get("loss_variable") == loss_variable and a.get("tolerance") == tol:
            return ds
    return label_checkpoints(ds, labelling, loss_variable, tolerance)


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


#: what :func:`phase_sequences` reads of a trajectory: variable -> its leading dims
_TRAJECTORY_NEEDS = {"W": ("run", "step"), "b": ("run", "step"), "loss": ("run", "step")}


def _check_trajectory(ds) -> None:
    """InputError unless ``ds`` is a trajectory Dataset with the variables and dims read here
    (the engine's side of the trajectory contract; a KeyError deep inside would name nothing)."""
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"ds: expected an xarray.Dataset trajectory (sgd_tms.train), got {type(ds).__name__}")
    for name, dims in _TRAJECTORY_NEEDS.items():
        if name not in ds:
            raise InputError(f"ds: expected variable {name!r} of the trajectory contract, got "
                             f"{sorted(map(str, ds.data_vars)) or 'no variables'}")
        if ds[name].dims[:2] != dims or ds[name].dims[-1:] != ("feature",) and name != "loss":
            raise InputError(f"ds: expected {name} with dims ({', '.join(dims)}, ..., feature), got {ds[name].dims}")
    if "step" not in ds.coords and "step" not in ds:
        raise InputError("ds: expected a step coordinate of the trajectory, got none")


def phase_sequences(ds: xr.Dataset, labelling: str = "structure", loss_variable: str = "population_loss",
                    tolerance: float | None = None, **kwargs) -> pd.DataFrame:
    """One row per plateau: ``run, order, phase, start_step, end_step, loss, llc, points``.

    Parameters
    ----------
    ds : xarray.Dataset
        Trajectory; its ``phase`` is used when it comes from the requested labelling, else the
        checkpoints are (re)labelled with :func:`label_checkpoints`. Runs flagged ``diverged``
        are left out.
    labelling, loss_variable, tolerance
        As in :func:`label_checkpoints`.
    **kwargs
        Passed to :func:`segment_run` (``rtol``, ``atol``, ``min_points``); the plateaus are cut
        on the training loss whatever the labelling.
    """
    _check_trajectory(ds)
    ds = _labelled(ds, labelling, loss_variable, tolerance)
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


def labelled_plateaus(seq: pd.DataFrame, runs: int, **attrs) -> xr.Dataset:
    """The plateaus hand-off (:data:`comparisons.contracts.PLATEAUS`) of :func:`phase_sequences`.

    Parameters
    ----------
    seq : DataFrame
        :func:`phase_sequences`: its columns become variables over ``plateau`` (``phase`` as
        string labels, steps and counts as integers, ``loss`` and ``llc`` as floats).
    runs : int
        The number of runs analysed (diverged runs left out): ``attrs["runs"]``, over which
        :func:`path_fractions` counts the runs without a plateau.
    **attrs
        More attrs (e.g. the ``labelling``).

    Returns
    -------
    xarray.Dataset
        With the path summary over ``path`` (``path, path_runs, path_fraction``, most frequent
        first: :func:`path_fractions`) and the moves over ``move`` (``move_run, move_from,
        move_to``, in time order per run: :func:`phase_moves`): the one summary that ``paths.csv``,
        ``transitions.csv`` and the report show.
    """
    kinds = {"phase": str, "loss": float, "llc": float}
    paths, moves = path_fractions(seq, runs=runs), phase_moves(seq)
    data = {k: (("plateau",), seq[k].to_numpy(dtype=kinds.get(k, np.int64))) for k in PLATEAU_COLUMNS}
    data |= {"path": (("path",), paths["path"].to_numpy(dtype=str)),
             "path_runs": (("path",), paths["runs"].to_numpy(dtype=np.int64)),
             "path_fraction": (("path",), paths["fraction"].to_numpy(dtype=float)),
             "move_run": (("move",), moves["run"].to_numpy(dtype=np.int64)),
             "move_from": (("move",), moves["from"].to_numpy(dtype=str)),
             "move_to": (("move",), moves["to"].to_numpy(dtype=str))}
    return validate_plateaus(xr.Dataset(data, coords={"plateau": np.arange(len(seq))},
                                        attrs={"runs": int(runs), **attrs}))


def phase_moves(seq: pd.DataFrame) -> pd.DataFrame:
    """Every move between consecutive plateaus of a run: columns ``run, from, to``, in time order.

    The plateaus of :func:`phase_sequences` are classified and a run's consecutive plateaus have
    different phases (:func:`segment_run` drops unclassified stretches and merges repeats), so a
    move is a transition between two phases.
    """
    rows = []
    for run, g in seq.sort_values(["run", "order"]).groupby("run"):
        ph = [str(p) for p in g["phase"]]
        rows += [(int(run), a, b) for a, b in zip(ph[:-1], ph[1:])]
    return pd.DataFrame(rows, columns=["run", "from", "to"])


def transition_counts(seq: pd.DataFrame) -> pd.DataFrame:
    """Counts of the moves of :func:`phase_moves`: columns ``from, to, count`` (most frequent first)."""
    pairs: dict[tuple[str, str], int] = {}
    for a, b in zip(*(phase_moves(seq)[k] for k in ("from", "to"))):
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
    """``k`` of a label; for a joined loss level (``"3++/4++-"``) the common ``k``, else -1."""
    ks = {int(d) if (d := "".join(ch for ch in part if ch.isdigit())) else -1 for part in label.split("/")}
    return ks.pop() if len(ks) == 1 else -1


def count_paper_sequence(seq: pd.DataFrame) -> int:
    """Runs showing the paper's Figure 1 pattern: a 4-family plateau, later a 5-gon-family one."""
    count = 0
    for _, g in seq.sort_values(["run", "order"]).groupby("run"):
        ks = [_k(p) for p in g["phase"]]
        if 4 in ks and 5 in ks[ks.index(4):]:
            count += 1
    return count


def count_subsequence(seq: pd.DataFrame, pattern: Sequence[str], contiguous: bool = True) -> int:
    """Runs whose plateau path contains ``pattern`` (e.g. ``["4", "4+", "5"]``) in order.

    Parameters
    ----------
    seq : DataFrame
        Plateaus from :func:`phase_sequences`.
    pattern : sequence of str
        Phase labels.
    contiguous : bool
        True: as consecutive plateaus; False: in this order with anything in between.
    """
    pattern = list(pattern)
    if not pattern:
        raise InputError("pattern: expected at least one phase label, got none")
    count = 0
    for _, g in seq.sort_values(["run", "order"]).groupby("run"):
        ph = list(g["phase"])
        if contiguous:
            hit = any(ph[i:i + len(pattern)] == pattern for i in range(len(ph) - len(pattern) + 1))
        else:
            it = iter(ph)
            hit = all(any(p == q for q in it) for p in pattern)
        count += hit
    return count


class LabellingComparison(NamedTuple):
    """Structure vs loss-level labelling of one trajectory Dataset.

    Attributes
    ----------
    paths : DataFrame
        ``path, runs_structure, runs_loss``: every distinct plateau path under either labelling
        and how many runs follow it under each (most frequent first).
    confusion : DataFrame
        ``structure, loss, checkpoints, fraction, median_offset, median_dead_bias_1,
        median_dead_bias_2``: checkpoints per (structural label, loss label) pair; ``offset`` is
        the loss minus the nearest level, ``dead_bias_1 >= dead_bias_2`` the two largest biases
        of absent columns (``|W_i| < PRESENT_NORM``; NaN if fewer).
    agreement : float
        Share of checkpoints with the same label (equal labels, or a structural label among the
        alternatives of a joined loss level; both unclassified counts as agreement).
    agreement_classified : float
        The same share among checkpoints classified by both labellings.
    checkpoints : int
        Number of checkpoints ``runs x steps``.
    """

    paths: pd.DataFrame
    confusion: pd.DataFrame
    agreement: float
    agreement_classified: float
    checkpoints: int


def _same(structure: np.ndarray, loss: np.ndarray) -> np.ndarray:
    return np.array([s == l or s in l.split("/") for s, l in zip(structure, loss)], dtype=bool)


def _dead_biases(W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The two largest biases of absent columns per checkpoint: ``W[m, 2, c], b[m, c] -> (m, 2)``."""
    absent = np.linalg.norm(W, axis=-2) < PRESENT_NORM
    vals = np.sort(np.where(absent, b, -np.inf), axis=-1)[:, ::-1][:, :2]
    return np.where(np.isfinite(vals), vals, np.nan)


def compare_labellings(ds: xr.Dataset, loss_variable: str = "population_loss",
                       tolerance: float | None = None, **kwargs) -> LabellingComparison:
    """Label ``ds`` both ways and compare checkpoints and plateau paths.

    Parameters
    ----------
    ds : xarray.Dataset
        Trajectory (``W``, ``b``, ``loss`` and ``loss_variable`` over ``(run, step)``).
    loss_variable, tolerance
        Of the loss-level labelling (:func:`label_checkpoints`).
    **kwargs
        Passed to :func:`segment_run`.

    Returns
    -------
    LabellingComparison
    """
    by_s = _labelled(ds, "structure", loss_variable, tolerance)
    by_l = label_checkpoints(ds, "loss", loss_variable, tolerance)
    runs = ds.sizes["run"]
    ps = path_fractions(phase_sequences(by_s, **kwargs), runs=runs)
    pl = path_fractions(phase_sequences(by_l, "loss", loss_variable, tolerance, **kwargs), runs=runs)
    paths = pd.merge(ps[["path", "runs"]].rename(columns={"runs": "runs_structure"}),
                     pl[["path", "runs"]].rename(columns={"runs": "runs_loss"}), on="path", how="outer")
    paths = paths.fillna(0).astype({"runs_structure": int, "runs_loss": int})
    paths = paths.sort_values(["runs_structure", "runs_loss", "path"], ascending=[False, False, True])
    s_lab = by_s["phase"].transpose("run", "step").values.ravel()
    l_lab = by_l["phase"].transpose("run", "step").values.ravel()
    offset = by_l["phase_distance"].transpose("run", "step").values.ravel()
    W = ds["W"].transpose("run", "step", "hidden", "feature").values
    dead = _dead_biases(W.reshape(-1, *W.shape[2:]), ds["b"].transpose("run", "step", "feature").values
                        .reshape(-1, W.shape[-1]))
    same = _same(s_lab, l_lab)
    both = (s_lab != UNCLASSIFIED) & (l_lab != UNCLASSIFIED)
    frame = pd.DataFrame({"structure": s_lab, "loss": l_lab, "offset": offset,
                          "dead_bias_1": dead[:, 0], "dead_bias_2": dead[:, 1]})
    g = frame.groupby(["structure", "loss"])
    confusion = pd.DataFrame({"checkpoints": g.size(), "median_offset": g["offset"].median(),
                              "median_dead_bias_1": g["dead_bias_1"].median(),
                              "median_dead_bias_2": g["dead_bias_2"].median()}).reset_index()
    confusion.insert(3, "fraction", confusion["checkpoints"] / max(len(frame), 1))
    confusion = confusion.sort_values(["checkpoints", "structure", "loss"], ascending=[False, True, True])
    return LabellingComparison(
        paths=paths.reset_index(drop=True), confusion=confusion.reset_index(drop=True),
        agreement=float(same.mean()) if same.size else float("nan"),
        agreement_classified=float(same[both].mean()) if both.any() else float("nan"),
        checkpoints=int(same.size))
