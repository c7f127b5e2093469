"""The documentation site and the results pages, generated from stored data.

``tms-phases docs build`` is the one command that builds the site: it

1. renders the results pages (``docs/results/*.md``) and the generated blocks of ``README.md``
   from the result files stored under ``docs/results/data/`` and
   ``comparisons/theory/data/llc_measured_c*.json`` (:func:`render_results`);
2. generates the reference pages that come from code: every command's ``--help`` (by calling the
   parser) and every output file's variables and dims (from the contracts in
   :mod:`comparisons.contracts`) (:func:`render_reference`);
3. executes the notebooks (``notebooks/*.py``, jupytext percent files) at the tiny scale into
   Markdown pages with their outputs and figures (:func:`render_notebooks`);
4. runs ``mkdocs build --strict``, in which any warning (a broken internal link or anchor, a
   docstring that does not parse) fails the build.

``tms-phases docs render`` does step 1 only, and ``tms-phases docs check`` re-renders step 1 in
memory and fails when a committed page differs from what its data gives. ``tms-phases docs store
KIND DIR --command CMD`` copies the small summary files of a finished run into
``docs/results/data/`` with the command that made them in their attrs; ``KIND`` ``judge`` stores
instead the judge of a PT run on the population loss (:func:`judge_dataset`), shown in a
generated block of ``docs/beyond-c6.md``; its other block, the dominant sequences with O(1) terms,
is computed from the package's theory and tables (:func:`sequences_dataset`).

Results pages are never typed: each table is rendered from a Dataset's variables
(:func:`dataset_markdown`), so a variable added to a stored file appears as a new column without a
code change, and every table stands under the command that produced its data.
"""

from __future__ import annotations

__all__ = ["RESULT_FILES", "SEED_SCOPE", "format_value", "dataset_markdown", "llc_dataset", "judge_dataset",
           "sequences_dataset",
           "judge_markdown", "render_results",
           "render_reference", "render_notebooks", "notebook_markdown", "check_results", "store_results",
           "build_site", "add_arguments", "run", "main"]

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from .errors import InputError

#: the data folder of the results pages, relative to the repository root
DATA = Path("docs") / "results" / "data"

#: stored result files: name -> (what it is, the command that makes it, the source file in its output folder)
RESULT_FILES: dict[str, tuple[str, str, str]] = {
    "switch_summary.nc": ("the switch over data sets and conventions, per convention",
                          "tms-phases docs store study DIR (after tms-phases bayes --sampler pt --preset quick "
                          "--datasets 8 --conventions tempered,gaussian-sigma1 --population --out DIR)",
                          "switch_summary.nc"),
    "switches.nc": ("every switch of every run of the switch study",
                    "tms-phases docs store study DIR", "switches.csv"),
    "switches.png": ("the figure of the switch study", "tms-phases docs store study DIR", "switches.png"),
    "reproduce_transitions.nc": ("the switches of the quick reproduction (replica exchange)",
                                 "tms-phases docs store reproduce DIR (after tms-phases reproduce --out DIR)",
                                 "bayes_pt/transitions.nc"),
    "reproduce_transitions_nuts.nc": ("the switches of the quick reproduction (NUTS, ladder bridge)",
                                      "tms-phases docs store reproduce DIR", "bayes/transitions.nc"),
    "reproduce_sgd.nc": ("the SGD summary of the quick reproduction", "tms-phases docs store reproduce DIR",
                         "sgd/summary.json"),
    "reproduce_paths.nc": ("the SGD paths of the quick reproduction", "tms-phases docs store reproduce DIR",
                           "sgd/paths.csv"),
    "figure2.nc": ("the paper's Figure 2, reproduced: three panels of the quick reproduction",
                   "tms-phases docs store reproduce DIR (after tms-phases reproduce --out DIR)",
                   "figure2/figure2.nc"),
    "figure2.png": ("the figure of the paper's Figure 2, reproduced", "tms-phases docs store reproduce DIR",
                    "figure2/figure2.png"),
    "pt_population_transitions.nc": ("the switches of replica exchange on the population loss (issue 23: c = 8)",
                                     "tms-phases docs store pt DIR (after tms-phases bayes --sampler pt "
                                     "--population --features 8 ... --out DIR)", "transitions.nc"),
    "pt_population_diagnostics.nc": ("its per-rung diagnostics: swap acceptance, round trips per copy, R-hat",
                                     "tms-phases docs store pt DIR", "diagnostics.nc"),
    "pt_population_occupancy.png": ("its occupancy against n", "tms-phases docs store pt DIR", "occupancy.png"),
}

_STORE_KINDS = {"study": ("switch_summary.nc", "switches.nc", "switches.png"),
                "reproduce": ("reproduce_transitions.nc", "reproduce_transitions_nuts.nc", "reproduce_sgd.nc",
                              "reproduce_paths.nc", "figure2.nc", "figure2.png"),
                "pt": ("pt_population_transitions.nc", "pt_population_diagnostics.nc", "pt_population_occupancy.png")}

#: the judge of the dominant sequence with O(1) terms against one PT run on the population loss, per c
JUDGE_FILE = "judge_c{c}.nc"
_JUDGE_COMMAND = ("tms-phases docs store judge DIR --command CMD (after CMD = tms-phases bayes --sampler pt "
                  "--population --features C ... --out DIR)")

#: what "same seed, same result" covers, stated on every results page
SEED_SCOPE = (
    "**Same seed, same result: what it covers.** Every random stream is a named child of one root "
    "seed (`comparisons.theory.streams`). Replica exchange runs its arithmetic in a compiled kernel "
    "with a fixed order of operations and no BLAS, so its draws are bit-identical whatever the BLAS "
    "library and thread count (a test compares runs with one and two threads). NUTS and SMC go through "
    "PyTensor and nutpie, whose rounding may depend on the machine: their numbers are reproduced "
    "exactly on the same machine and installation; elsewhere means over data sets agree to within "
    "their spread and single switches can move by a few percent. Wall times depend on the machine "
    "and are not shown here; they live in the output of `benchmarks/` and of each command.")

_GENERATED = "<!-- generated by `tms-phases docs render` from {source}: edit the data or the renderer, not this page -->"
_BLOCK = re.compile(r"(<!-- BEGIN generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END generated: (?P=name) -->)",
                    re.S)


# --- generic rendering of Datasets ---------------------------------------------------------------


def format_value(value: Any) -> str:
    """One table cell: labels as they are, flags as yes/no, integers whole, floats to 3 significant
    digits (whole numbers from 100 up), missing values as an en dash."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not np.isfinite(v):
            return "–"
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"
    text = str(value)
    return text.replace("|", "\\|") if text else "–"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(format_value(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def dataset_markdown(ds: xr.Dataset) -> str:
    """Every variable of ``ds`` as Markdown tables, whatever the variables are.

    Scalars form one two-column table; variables over one dim form one table per dim (a column
    per variable, in file order, the dim's coordinate first when it is not a plain ``0..k``
    range); a variable over two dims is a table of its own (rows: the first dim, columns: the
    second), over three dims one such table per value of the first dim.
    """
    parts = []
    scalars = [k for k in ds.data_vars if ds[k].ndim == 0]
    if scalars:
        parts.append(_table(["quantity", "value"], [(k, ds[k].values.item()) for k in scalars]))
    for dim in ds.dims:
        names = [k for k in ds.data_vars if ds[k].dims == (dim,)]
        if not names:
            continue
        coord = ds[dim].values if dim in ds.coords else np.arange(ds.sizes[dim])
        plain = np.array_equal(coord, np.arange(len(coord)))
        header = ([] if plain else [dim]) + [str(k) for k in names]
        rows = [([] if plain else [coord[i]]) + [ds[k].values[i] for k in names] for i in range(ds.sizes[dim])]
        parts.append(_table(header, rows))
    for k in ds.data_vars:
        var = ds[k]
        if var.ndim == 2:
            parts.append(f"`{k}` by `{var.dims[0]}` (rows) and `{var.dims[1]}` (columns):\n\n" + _pivot(var))
        elif var.ndim == 3:
            for v in var[var.dims[0]].values:
                parts.append(f"`{k}` at `{var.dims[0]} = {v}`, by `{var.dims[1]}` (rows) and "
                             f"`{var.dims[2]}` (columns):\n\n" + _pivot(var.sel({var.dims[0]: v})))
    return "\n\n".join(parts)


def _pivot(var: xr.DataArray) -> str:
    r, c = var.dims
    return _table([r] + [str(x) for x in var[c].values],
                  [[x] + list(var.sel({r: x}).values) for x in var[r].values])


# --- the data ---------------------------------------------------------------------------------------


def _missing(path: Path, command: str) -> InputError:
    return InputError(f"{path}: expected a stored result file, got none; make it with `{command}`")


def _open(root: Path, name: str) -> xr.Dataset:
    path = root / DATA / name
    if not path.is_file():
        raise _missing(path.relative_to(root), RESULT_FILES[name][1])
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    for k in ds.data_vars:  # netCDF gives strings back as objects
        if ds[k].dtype.kind == "O":
            ds[k] = ds[k].astype(str)
    return ds


#: the two LLC methods agree where they are at most this many combined standard errors apart; the
#: results page names every phase beyond it
METHODS_AGREE_SE = 3.0


def llc_dataset(path: str | os.PathLike) -> xr.Dataset:
    """A measured-LLC table (``llc_measured_cC.json``, written by ``tms-phases llc --measure-phases``)
    as a Dataset over ``phase``: the NUTS value and SE, its relative SE and fit, the volume-scaling
    value and SE, their difference in combined SEs, and the exact value or bound (rank/2)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: expected a measured-LLC table, got none; make it with "
                         f"`tms-phases llc --measure-phases -c C --out {path.parent}`")
    data = json.loads(path.read_text())
    rows = data["phases"]

    def col(f):
        return np.array([f(r) for r in rows], dtype=float)

    nan = float("nan")
    nuts, se = col(lambda r: r["llc_measured"]), col(lambda r: r["llc_se"])
    vol, vse = col(lambda r: r.get("volume_llc", nan)), col(lambda r: r.get("volume_se", nan))
    ds = xr.Dataset(
        {"nuts": ("phase", nuts), "nuts_se": ("phase", se), "rel_se": ("phase", se / nuts),
         "nuts_fit": ("phase", np.array([r.get("fit", {}).get("form", "") for r in rows], dtype=str)),
         "volume": ("phase", vol), "volume_se": ("phase", vse),
         "difference_in_se": ("phase", np.abs(nuts - vol) / np.hypot(se, vse)),
         "exact": ("phase", col(lambda r: nan if r["llc_exact"] is None else r["llc_exact"])),
         "bound": ("phase", col(lambda r: nan if r.get("llc_bound") is None else r["llc_bound"]))},
        coords={"phase": np.array([r["phase"] for r in rows], dtype=str)},
        attrs={"command": data["command"], "c": data["c"], "seed": data["seed"]})
    return ds


def _pt_run_file(folder: Path, name: str) -> Path:
    """``name`` of a PT run's folder, or its stored copy (``pt_population_NAME``, ``tms-phases docs store pt``)."""
    return folder / name if (folder / name).is_file() else folder / f"pt_population_{name}"


def judge_dataset(source: str | os.PathLike, command: str, n_max: float = 1e6) -> xr.Dataset:
    """The dominant sequence with O(1) terms judged against a PT run on the population loss, as a
    Dataset: the rows of ``tms-phases theory --judge SOURCE`` over ``row`` and the run's mixing.

    Parameters
    ----------
    source : path
        The run's folder (``tms-phases bayes --sampler pt --population``), or ``docs/results/data``
        holding the run stored by ``tms-phases docs store pt``.
    command : str
        The command that made the run (recorded in the attrs).
    n_max : float
        Largest ``n`` of the predicted sequence.

    Returns
    -------
    xarray.Dataset
        Over ``row``: ``from``, ``to``, ``predicted`` (band ``predicted_lo..predicted_hi``),
        ``all_measured``, ``asymptotic``, ``measured`` (interval ``measured_lo..measured_hi``),
        ``ratio`` (predicted / measured), ``asymptotic_ratio`` and ``verdict`` (``within 20%``,
        ``miss``, ``no PT switch``: predicted, no such switch of the leading phase in the run; ``no prediction``);
        NaN where a value is missing. Scalars: the requested ``rungs`` and ``copies`` of the run, the
        least and mean round trips per copy over that ladder, its least swap acceptance between
        neighbouring rungs (all three of the main run, not of the refinement rounds) and the largest
        R-hat of the loss over every rung. Attrs: ``features``, ``beta``, ``ladder_lo``, ``ladder_hi``, ``command``.

    Raises
    ------
    InputError
        ``source`` is no PT run on the population loss.
    """
    from .cli.theory import judge_rows, read_judge_run

    source = Path(source)
    switches, c, beta, ladder = read_judge_run(source)
    rows = judge_rows(switches, c, beta, ladder, n_max)
    diag_path = _pt_run_file(source, "diagnostics.nc")
    if not diag_path.is_file():
        raise InputError(f"{diag_path}: expected the PT run's diagnostics, got none; run `{command}` first")
    with xr.open_dataset(diag_path, engine="h5netcdf") as diag:
        diag = diag.load()

    def col(key):
        return ("row", np.array([np.nan if r[key] is None else float(r[key]) for r in rows], dtype=float))

    verdict = ["no prediction" if r["predicted"] is None else "no PT switch" if r["miss"] is None
               else "miss" if r["miss"] else "within 20%" for r in rows]
    data = {"from": ("row", np.array([r["from"] for r in rows], dtype=str)),
            "to": ("row", np.array([r["to"] for r in rows], dtype=str))}
    for key in ("predicted", "predicted_lo", "predicted_hi", "all_measured", "asymptotic", "measured",
                "measured_lo", "measured_hi", "ratio", "asymptotic_ratio"):
        data[key] = col(key)
    data["verdict"] = ("row", np.array(verdict, dtype=str))
    main = ~np.asarray(diag["inserted"].values, dtype=bool)  # the requested ladder, not the refinement's rungs
    data.update(rungs=((), int(main.sum())), copies=((), int(diag["copies"].values.max())),
                round_trips_min=((), int(diag["round_trips_min"].values[main].min())),
                round_trips_mean=((), float(diag["round_trips_mean"].values[main].mean())),
                swap_accept_min=((), float(np.nanmin(diag["swap_accept_next"].values[main]))),
                rhat_loss_max=((), float(np.nanmax(diag["rhat_loss"].values))))
    return xr.Dataset(data, coords={"row": np.arange(len(rows))},
                      attrs={"features": c, "beta": beta, "ladder_lo": ladder[0], "ladder_hi": ladder[1],
                             "command": command})


def judge_markdown(judged: Sequence[xr.Dataset]) -> str:
    """The judge of every stored ``c`` as one block: the commands, one table of every row over all
    ``c`` (a ``c`` column first) and one table of each run's ladder and mixing."""
    judged = sorted(judged, key=lambda ds: int(ds.attrs["features"]))
    cs = [int(ds.attrs["features"]) for ds in judged]
    rows = xr.concat([ds.drop_vars([k for k in ds.data_vars if ds[k].ndim == 0]).assign(
        c=("row", np.full(ds.sizes["row"], int(ds.attrs["features"])))) for ds in judged], dim="row")
    rows = rows[["c", *[k for k in rows.data_vars if k != "c"]]].drop_attrs()
    rows = rows.assign_coords(row=np.arange(rows.sizes["row"]))
    runs = xr.Dataset({"beta": ("c", [float(ds.attrs["beta"]) for ds in judged]),
                       "ladder_lo": ("c", [float(ds.attrs["ladder_lo"]) for ds in judged]),
                       "ladder_hi": ("c", [float(ds.attrs["ladder_hi"]) for ds in judged]),
                       **{k: ("c", [ds[k].values.item() for ds in judged]) for k in judged[0].data_vars
                          if judged[0][k].ndim == 0}}, coords={"c": cs})
    commands = "\n".join(ds.attrs["command"] for ds in judged)
    return ("```bash\n" + commands + "\n```\n\n" + dataset_markdown(rows) + "\n\n" + dataset_markdown(runs) + "\n")


def sequences_dataset(features: Sequence[int] = (4, 5, 6, 7, 8), betas: Sequence[float] = (1.0, 0.5)) -> xr.Dataset:
    """The dominant sequence with O(1) terms (:func:`comparisons.theory.dominant_sequence`, its
    defaults) at every ``c`` and ``beta``: one row per crossing, ``c, beta, from, to, n, n_lo,
    n_hi, n_asymptotic, method``; a ``c`` without a crossing has no row. Computed from the
    package's theory and its measured tables (``comparisons/theory/data``), not stored."""
    from .theory import dominant_sequence

    rows = [{"c": c, "beta": b, **e} for c in features for b in betas for e in dominant_sequence(c, beta=b)]
    cols = ("c", "beta", "from", "to", "n", "n_lo", "n_hi", "n_asymptotic", "method")
    kinds = {"c": np.int64, "beta": float, "from": str, "to": str, "method": str}
    return xr.Dataset({k: ("row", np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=kinds.get(k, float)))
                       for k in cols}, coords={"row": np.arange(len(rows))})


def _judge_block(root: Path) -> str:
    files = sorted((root / DATA).glob(JUDGE_FILE.format(c="*")))
    if not files:
        raise _missing((root / DATA / JUDGE_FILE.format(c="C")).relative_to(root), _JUDGE_COMMAND)
    return judge_markdown([_open(root, f.name) for f in files])


# --- pages -----------------------------------------------------------------------------------------


def _page(title: str, source: str, body: Sequence[str]) -> str:
    return "\n\n".join([_GENERATED.format(source=source), f"# {title}", *body, SEED_SCOPE]) + "\n"


def _command(ds: xr.Dataset) -> str:
    return f"```bash\n{ds.attrs.get('command', '(no command recorded)')}\n```"


def _figure2_block(root: Path, image: str) -> str:
    """The headline figure's block, rendered by :func:`comparisons.figure2.figure2_markdown` from the
    stored ``figure2.nc`` (validated by :func:`comparisons.contracts.validate_figure2`)."""
    from .contracts import validate_figure2
    from .figure2 import figure2_markdown

    path = root / DATA / "figure2.nc"
    if not path.is_file():
        raise _missing(path.relative_to(root), RESULT_FILES["figure2.nc"][1])
    return figure2_markdown(validate_figure2(path), image).rstrip("\n") + "\n"


def fill_blocks(text: str, blocks: Mapping[str, str]) -> str:
    """Replace the body of every ``<!-- BEGIN generated: NAME -->`` block named in ``blocks``."""
    return _BLOCK.sub(lambda m: m.group(1) + blocks[m.group("name")] + m.group(4)
                      if m.group("name") in blocks else m.group(0), text)


def render_results(root: str | os.PathLike = ".") -> dict[Path, str]:
    """The results pages and ``README.md`` as rendered from the stored data: ``{path: text}``.

    Raises
    ------
    InputError
        A stored result file is missing (the message names the command that makes it).
    """
    root = Path(root)
    pages: dict[Path, str] = {}
    llc_files = sorted((root / "comparisons" / "theory" / "data").glob("llc_measured_c*.json"))
    if not llc_files:
        raise InputError("comparisons/theory/data: expected llc_measured_c*.json, got none; make them with "
                         "`tms-phases llc --measure-phases -c C --out comparisons/theory/data`")
    body = ["The learning coefficients of the phases, measured on the population loss by two "
            "independent methods: NUTS over a grid of `m = n beta`, extrapolated (`nuts_fit`: `const` "
            "is the plain mean of the grid, `inv_sqrt` the fit `lambda + a / sqrt(m)`), and the "
            "scaling of the prior volume of `{L - L* < eps}` (`volume`). `difference_in_se` is their "
            "difference in combined standard errors; `exact` is `rank/2` where the loss is smooth at "
            "the phase, `bound` the half rank of the averaged Hessian on a wall. The tables ship with "
            "the package; `tms-phases kgons` shows them and `tms-phases theory` uses them."]
    for f in llc_files:
        ds = llc_dataset(f)
        body += [f"## `c = {ds.attrs['c']}`", _command(ds), dataset_markdown(ds.drop_attrs())]
        apart = ds.phase.values[ds["difference_in_se"].values > METHODS_AGREE_SE]
        if apart.size:  # a table, not prose: the numbers come from the data
            body += [("**The two methods disagree** at these phases (further apart than "
                      "`comparisons.docs.METHODS_AGREE_SE` combined SE); see [LLC methods](../llc_methods.md)."),
                     dataset_markdown(ds[["nuts", "volume", "difference_in_se"]].sel(phase=apart).drop_attrs())]
    pages[Path("docs/results/llc.md")] = _page("Learning coefficients, measured",
                                              "comparisons/theory/data/llc_measured_c*.json", body)

    summary, switches = _open(root, "switch_summary.nc"), _open(root, "switches.nc")
    pages[Path("docs/results/switch-study.md")] = _page(
        "The switch over data sets and conventions", "docs/results/data/switch_summary.nc, switches.nc",
        ["One data set is one draw of a random switch point. Replica exchange samples the same data "
         "sets under both likelihood conventions (`tempered`: beta one, the theory's; "
         "`gaussian-sigma1`: beta one half, the convention of the authors' public NUTS code) and on "
         "the population loss (no data noise). A reproduction must say which convention it uses.",
         _command(summary), "## Summary per convention and switch",
         "`mean` and `sd` are over the data sets' first switch of that kind (`values`, in data-set "
         "order), after a run of crossings back and forth between two phases within one data set "
         "is merged into one switch at the geometric mean of its first and last crossing (as in "
         "the reproduction figure and the judge; `not_single` is the share of data sets where the "
         "switch is more than one crossing, and the last table lists every crossing); `population` "
         "is the switch on the population loss; `predicted_n` and `predicted_n_laplace` are the "
         "free-energy predictions at the run's beta, asymptotic and with the `O(1)` terms. `rhat_max` is "
         "the largest loss R-hat across a run's copies at the two rungs around its switch, over the "
         "`switches` counted that have one (two copies or more), and `disagree` the number of them above the R-hat bound of a mixed rung "
         "(`comparisons.jobs.bayes_pt.MIXED_RHAT`): there the copies disagree and the switch is not measured. `all_mixed` says whether every run with "
         "this switch is mixed at every rung (that R-hat bound, and enough round trips per copy over its whole ladder).", dataset_markdown(summary.drop_attrs()),
         "![switch n per data set and convention](data/switches.png)",
         "## Every switch of every run", dataset_markdown(switches.drop_attrs())])

    pt, nuts = _open(root, "reproduce_transitions.nc"), _open(root, "reproduce_transitions_nuts.nc")
    sgd, paths = _open(root, "reproduce_sgd.nc"), _open(root, "reproduce_paths.nc")
    pages[Path("docs/results/reproduce.md")] = _page(
        "The quick reproduction", "docs/results/data/reproduce_*.nc",
        ["What `tms-phases reproduce` (quick preset) finds: the switches of the dominant phase along "
         "n, by replica exchange (the default estimator) and by the NUTS ladder bridge on the same "
         "data, each with its interval and both free-energy predictions, and the SGD ensemble's "
         "plateaus and paths.", _command(pt),
         "## Switches: replica exchange", dataset_markdown(pt.drop_attrs()),
         "## Switches: NUTS with the ladder bridge", dataset_markdown(nuts.drop_attrs()),
         "## SGD ensemble", dataset_markdown(sgd.drop_attrs()),
         "## SGD paths", dataset_markdown(paths.drop_attrs())])

    pt_switches, pt_diag = _open(root, "pt_population_transitions.nc"), _open(root, "pt_population_diagnostics.nc")
    summary = xr.Dataset({"features": ((), int(pt_switches.attrs.get("features", -1))),
                          "copies": ((), int(pt_diag["copies"].values.max())),
                          "reported_n": ((), int(pt_diag["n"].size)),
                          "round_trips_mean": ((), float(pt_diag["round_trips_mean"].values.mean())),
                          "round_trips_min": ((), int(pt_diag["round_trips_min"].values.min()))})
    pages[Path("docs/results/pt-population.md")] = _page(
        "Replica exchange on the population loss", "docs/results/data/pt_population_*.nc",
        ["The Bayesian sequence on the population loss (no data noise) at beta one, by replica "
         "exchange over the n-ladder: each switch of the leading phase with its interval over the "
         "independent copies, beside both free-energy predictions (asymptotic, and with the `O(1)` "
         "terms where they exist). The diagnostics give, per rung, the swap acceptance with the next "
         "rung and the round trips per copy across the whole ladder; the summary gives the number of "
         "features, the copies, the sample sizes reported (the requested rungs) and the round trips per copy (mean and least).",
         _command(pt_switches), "## Summary", dataset_markdown(summary),
         "## Switches", dataset_markdown(pt_switches.drop_attrs()),
         "![occupancy against n](data/pt_population_occupancy.png)",
         "## Diagnostics per rung", dataset_markdown(pt_diag.drop_attrs())])

    pages[Path("docs/results/index.md")] = _page(
        "Results", "docs/results/data/",
        ["Every number on these pages is rendered by `tms-phases docs render` from a stored result "
         "file under `docs/results/data/` (or the package's measured-LLC tables), and each table "
         "stands under the command that produced its data. A test re-renders the pages and fails "
         "when a committed page differs from its data.",
         "<!-- BEGIN generated: figure2 -->\n" + _figure2_block(root, "data/figure2.png")
         + "<!-- END generated: figure2 -->",
         "- [The quick reproduction](reproduce.md): the switches and the SGD paths of "
         "`tms-phases reproduce`.\n"
         "- [The switch over data sets and conventions](switch-study.md).\n"
         "- [Replica exchange on the population loss](pt-population.md): the sequence at the largest c.\n"
         "- [Learning coefficients, measured](llc.md)."])

    readme = root / "README.md"
    pages[Path("README.md")] = fill_blocks(readme.read_text(), {
        "figure2": _figure2_block(root, "docs/results/data/figure2.png")})
    beyond = root / "docs" / "beyond-c6.md"
    if beyond.is_file():
        pages[Path("docs/beyond-c6.md")] = fill_blocks(beyond.read_text(), {
            "judge": _judge_block(root), "sequences": dataset_markdown(sequences_dataset()) + "\n"})
    return pages


def check_results(root: str | os.PathLike = ".") -> list[Path]:
    """The pages whose committed text differs from what their data render to (empty: all agree)."""
    root = Path(root)
    return [p for p, text in render_results(root).items()
            if not (root / p).is_file() or (root / p).read_text() != text]


# --- storing a run's summary -----------------------------------------------------------------------


def _csv_dataset(path: Path) -> xr.Dataset:
    import pandas as pd

    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    data = {}
    for k in df.columns:
        vals = df[k].to_numpy()
        if vals.dtype.kind not in "biuf":  # text (pandas' string dtype, objects): plain numpy strings
            vals = np.array(["" if isinstance(v, float) and np.isnan(v) else str(v) for v in vals], dtype=str)
        data[str(k)] = ("row", vals)
    return xr.Dataset(data, coords={"row": np.arange(len(df))})


def _json_dataset(path: Path) -> xr.Dataset:
    data = json.loads(path.read_text())
    keep = {k: v for k, v in data.items() if isinstance(v, (int, float, str, bool)) and v is not None
            and "wall" not in k and not k.endswith("_s")}  # no machine-dependent times
    return xr.Dataset({k: ((), v) for k, v in keep.items()})


def _run_features(source: Path) -> dict:
    """``{"features": c}`` from a run folder's ``config.json`` (empty when it records none)."""
    try:
        return {"features": int(json.loads((source / "config.json").read_text())["features"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def store_results(kind: str, source: str | os.PathLike, command: str, root: str | os.PathLike = ".") -> list[Path]:
    """Copy the summary files of a finished run into ``docs/results/data/``, each with ``command``
    (the command that made the run) in its attrs; returns the files written.

    ``kind`` is ``"study"`` (a ``tms-phases bayes --datasets D --conventions ...`` folder),
    ``"reproduce"`` (a ``tms-phases reproduce`` folder) or ``"pt"`` (one ``tms-phases bayes
    --sampler pt --population`` folder). Wall times are left out. ``"judge"`` writes the judge of
    one PT run on the population loss (:func:`judge_dataset`; ``source`` as there) as
    ``judge_cC.nc``.
    """
    from .io import write_netcdf

    if kind not in (*_STORE_KINDS, "judge"):
        raise InputError(f"kind: expected one of {', '.join(_STORE_KINDS)}, judge, got {kind!r}")
    source, root = Path(source), Path(root)
    if kind == "judge":
        ds = judge_dataset(source, command)
        dest = root / DATA / JUDGE_FILE.format(c=ds.attrs["features"])
        dest.parent.mkdir(parents=True, exist_ok=True)
        return [write_netcdf(ds, dest)]
    written = []
    for name in _STORE_KINDS[kind]:
        src = source / RESULT_FILES[name][2]
        if not src.is_file():
            raise InputError(f"{src}: expected a {kind} output file, got none; run `{command}` first")
        dest = root / DATA / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".png":
            shutil.copyfile(src, dest)
        else:
            if src.suffix == ".nc":
                with xr.open_dataset(src, engine="h5netcdf") as ds:
                    ds = ds.load()
            else:
                ds = _csv_dataset(src) if src.suffix == ".csv" else _json_dataset(src)
            ds.attrs = {**{k: v for k, v in ds.attrs.items() if "wall" not in k}, "command": command,
                        "source": RESULT_FILES[name][2], **_run_features(source)}
            write_netcdf(ds, dest)
        written.append(dest)
    return written


# --- reference pages --------------------------------------------------------------------------------

#: each contract's files and the commands that write them
_CONTRACT_FILES = {
    "POSTERIOR": ("`posterior_nNNNNN.nc`", "`tms-phases bayes`"),
    "TRAJECTORY": ("`trajectory.nc`", "`tms-phases sgd`"),
    "OCCUPANCY": ("`occupancy.nc`, `occupancy_family.nc`, `occupancy_compare.nc`, `smc_occupancy.nc`",
                  "`tms-phases bayes`, `tms-phases free-energy`, `tms-phases reproduce`"),
    "TRANSITIONS": ("`transitions.nc`", "`tms-phases bayes`"),
    "PLATEAUS": ("`plateaus.nc`", "`tms-phases sgd`"),
    "DIAGNOSTICS": ("`diagnostics.nc`", "`tms-phases bayes`"),
    "SWITCH_SUMMARY": ("`switch_summary.nc`", "`tms-phases bayes --datasets D --conventions ...`"),
    "LLC": ("`llc.nc`", "`tms-phases llc`"),
}


def _contracts_page() -> str:
    from . import contracts

    out = ["<!-- generated by `tms-phases docs build` from comparisons.contracts -->",
           "# Output files", "Every netCDF file the commands write, with its variables and dims, as "
           "the validators in `comparisons.contracts` check them when a file is read back. Phase "
           "labels are strings. A file that breaks its contract is refused with one line naming the "
           "file and what is missing."]
    extra = [c for c in contracts.__all__ if isinstance(getattr(contracts, c), contracts.Contract)]
    for const in list(_CONTRACT_FILES) + [c for c in extra if c not in _CONTRACT_FILES]:
        con = getattr(contracts, const, None)
        if con is None:
            continue
        files, cmd = _CONTRACT_FILES.get(const, ("", ""))
        out.append(f"## {con.name}")
        out.append(f"Files: {files or '–'}; written by {cmd or '–'}; validator "
                   f"`comparisons.contracts.validate_{con.name}` (`comparisons.contracts.{const}`).")
        rows = [("variable", k, "(" + ", ".join(d) + ")", _kind(con, k)) for k, d in con.variables.items()]
        rows += [("optional", k, "(" + ", ".join(d) + ")", _kind(con, k)) for k, d in con.optional.items()]
        lines = ["| | name | dims | kind |", "|---|---|---|---|"]
        lines += [f"| {a} | `{b}` | `{c}` | {d} |" for a, b, c, d in rows]
        if con.attrs:
            lines.append("| attrs | " + ", ".join(f"`{a}`" for a in con.attrs) + " | | |")
        out.append("\n".join(lines))
        if all(d == ("row",) for d in con.variables.values()):
            out.append("A table: every column of its CSV export is a variable over `row`; the ones "
                       "listed are those the validator requires.")
    return "\n\n".join(out) + "\n"


def _kind(con: Any, name: str) -> str:
    return "label (string)" if name in con.labels else "integer" if name in con.integers else "number"


def _cli_page() -> str:
    from .cli import SUBCOMMANDS, main

    out = ["<!-- generated by `tms-phases docs build` by calling the parser -->", "# Commands",
           "Every subcommand of `tms-phases` with its `--help`, as the parser prints it. Bad input "
           "prints one line and exits with status 2. `--config FILE.toml` gives any subcommand its "
           "defaults from the file's table of the same name (see the how-to on TOML configs)."]
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        for name in ["(top level)"] + list(SUBCOMMANDS):
            buf = io.StringIO()
            with redirect_stdout(buf):
                try:
                    main(["--help"] if name == "(top level)" else [name, "--help"])
                except SystemExit:
                    pass
            title = "tms-phases" if name == "(top level)" else f"tms-phases {name}"
            out += [f"## {title}", f"```text\n{buf.getvalue().rstrip()}\n```"]
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n\n".join(out) + "\n"


def render_reference(root: str | os.PathLike = ".") -> list[Path]:
    """Write the reference pages generated from code (``docs/reference/commands.md``,
    ``docs/reference/files.md``); returns their paths."""
    from .io import write_text

    ref = Path(root) / "docs" / "reference"
    return [write_text(ref / "commands.md", _cli_page()), write_text(ref / "files.md", _contracts_page())]


# --- notebooks ---------------------------------------------------------------------------------------


def notebook_markdown(nb: Any, images: Path, prefix: str) -> str:
    """An executed notebook as Markdown: its Markdown cells, each code cell in a fence, and the
    cell's outputs (text in a fence, PNG images written to ``images`` as ``PREFIX_K.png``)."""
    import base64

    out, k = [], 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            out.append(cell.source)
        elif cell.cell_type == "code" and cell.source.strip():
            out.append(f"```python\n{cell.source}\n```")
            for o in cell.get("outputs", []):
                if o.get("output_type") == "stream":  # progress bars: keep what a terminal would show
                    text = "\n".join(line.rsplit("\r", 1)[-1] for line in "".join(o["text"]).split("\n"))
                    out.append(f"```text\n{text.rstrip()}\n```")
                elif o.get("output_type") in ("execute_result", "display_data"):
                    data = o.get("data", {})
                    if "image/png" in data:
                        images.mkdir(parents=True, exist_ok=True)
                        (images / f"{prefix}_{k}.png").write_bytes(base64.b64decode(data["image/png"]))
                        out.append(f"![output {k}]({images.name}/{prefix}_{k}.png)")
                        k += 1
                    elif "text/plain" in data:
                        out.append(f"```text\n{''.join(data['text/plain']).rstrip()}\n```")
                elif o.get("output_type") == "error":
                    raise InputError(f"notebook {prefix}: expected every cell to run, got {o.get('ename')}: "
                                     f"{o.get('evalue')}")
    return "\n\n".join(out) + "\n"


def render_notebooks(root: str | os.PathLike = ".") -> list[Path]:
    """Execute ``notebooks/*.py`` at the tiny scale (``TMS_NOTEBOOK_SCALE=tiny``) and write each as
    ``docs/tutorials/STEM.md`` with its figures beside it; returns the pages written."""
    import jupytext
    import nbclient

    root = Path(root).resolve()
    tut = root / "docs" / "tutorials"
    pages = []
    env = {"TMS_NOTEBOOK_SCALE": "tiny", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}  # figures as outputs
    with tempfile.TemporaryDirectory() as tmp:
        old = {k: os.environ.get(k) for k in (*env, "TMS_NOTEBOOK_OUT")}
        os.environ.update(env, TMS_NOTEBOOK_OUT=tmp)
        try:
            for path in sorted((root / "notebooks").glob("*.py")):
                print(f"executing {path.relative_to(root)} (tiny scale)", file=sys.stderr)
                nb = jupytext.read(path)
                nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                        resources={"metadata": {"path": tmp}}).execute()
                md = notebook_markdown(nb, tut / "images", path.stem)
                note = (f"<!-- generated by `tms-phases docs build` from notebooks/{path.name}, executed at "
                        f"the tiny scale -->\n\n!!! note \"Executed at the tiny scale\"\n    This page is "
                        f"`notebooks/{path.name}` run with `TMS_NOTEBOOK_SCALE=tiny` (seconds, not the study's "
                        f"numbers). Open it with `jupytext --to notebook notebooks/{path.name}` to run it at "
                        f"full scale.\n\n")
                page = tut / f"{path.stem}.md"
                page.parent.mkdir(parents=True, exist_ok=True)
                page.write_text(note + md)
                pages.append(page)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return pages


# --- the build ---------------------------------------------------------------------------------------


def _root(value: str | os.PathLike) -> Path:
    root = Path(value).resolve()
    if not (root / "mkdocs.yml").is_file():
        raise InputError(f"--root: expected the repository root (a folder with mkdocs.yml), got {root}")
    return root


def build_site(root: str | os.PathLike = ".", site: str | os.PathLike | None = None, notebooks: bool = True) -> Path:
    """Render everything and run ``mkdocs build --strict``; returns the site folder.

    Raises
    ------
    InputError
        A stored result file is missing, or the strict build failed (a warning: a broken link,
        a docstring that does not parse).
    """
    from .io import write_text

    root = _root(root)
    site = Path(site) if site is not None else root / "site"
    for path, text in render_results(root).items():
        write_text(root / path, text)
    render_reference(root)
    if notebooks:
        render_notebooks(root)
    missing = [p for p in ("01_theory_walkthrough", "02_bayesian_transitions", "03_sgd_vs_bayes")
               if not (root / "docs" / "tutorials" / f"{p}.md").is_file()]
    if missing:
        raise InputError(f"docs/tutorials: expected the executed notebooks, got none for {missing}; "
                         f"build without --no-notebooks once")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=root, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        bad = [line for line in proc.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
        raise InputError(f"mkdocs build --strict: expected no warnings, got {len(bad)}: "
                         f"{bad[0] if bad else 'exit ' + str(proc.returncode)}")
    return site


# --- command line -------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``docs`` subcommand's arguments: an action and its options."""
    parser.add_argument("action", choices=("build", "render", "check", "store"),
                        help="build: everything and `mkdocs build --strict`; render: the results pages and "
                        "README blocks from docs/results/data; check: fail if a committed page differs from "
                        "its data; store KIND DIR: copy a finished run's summary files into docs/results/data")
    parser.add_argument("args", nargs="*", metavar="KIND DIR", help="for store: study|reproduce|pt|judge and the run's folder")
    parser.add_argument("--command", dest="run_command", default=None, metavar="CMD",
                        help="for store: the command that made the run (recorded in the data's attrs)")
    parser.add_argument("--root", default=".", help="the repository root (the folder with mkdocs.yml)")
    parser.add_argument("--site", default=None, help="where the site goes (default: ROOT/site)")
    parser.add_argument("--no-notebooks", action="store_true",
                        help="reuse the tutorials rendered by an earlier build instead of executing the notebooks")


def run(args: argparse.Namespace) -> int:
    """Run the ``docs`` subcommand; returns the exit status."""
    root = _root(args.root)
    if args.action == "build":
        site = build_site(root, args.site, notebooks=not args.no_notebooks)
        print(f"site: {site}")
    elif args.action == "render":
        from .io import write_text

        for path, text in render_results(root).items():
            write_text(root / path, text)
            print(path)
    elif args.action == "check":
        stale = check_results(root)
        if stale:
            print(f"error: {', '.join(map(str, stale))}: expected the pages their data render to, got "
                  f"different text; run `tms-phases docs render`", file=sys.stderr)
            return 1
        print("results pages and README blocks match their data")
    else:
        if len(args.args) != 2 or not args.run_command:
            raise InputError(f"store: expected KIND DIR --command CMD, got {' '.join(args.args) or 'nothing'}")
        for path in store_results(args.args[0], args.args[1], args.run_command, root):
            print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m comparisons.docs ...``: the same as ``tms-phases docs ...``."""
    from .cli import main as cli_main

    return cli_main(["docs", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
