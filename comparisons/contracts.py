"""The hand-offs between the engines and ``comparisons``: their names, and one validator each.

The engines (:mod:`bayes_tms`, :mod:`sgd_tms`) return labelled xarray data; the jobs
(:mod:`comparisons.jobs`) store it as netCDF; the report and the command line read it back
through the validators here. CSV files are exports for people, never read back.

Each hand-off has a constant describing it (dims, coordinates, variables) and a validator that
takes an in-memory object or a path and returns the validated (loaded) object:

- ``posterior`` (:data:`POSTERIOR`): ArviZ InferenceData of one ``n``, ``posterior_nNNNNN.nc``;
- ``trajectory`` (:data:`TRAJECTORY`): the SGD trajectory ``(run, step, ...)``, ``trajectory.nc``;
- ``occupancy`` (:data:`OCCUPANCY`): ``fraction, lower, upper, chains`` over ``(estimator, n,
  phase)``, ``occupancy.nc`` and ``occupancy_family.nc`` (and ``occupancy_compare.nc``, SMC's
  ``smc_occupancy.nc``); the engines build it (:func:`bayes_tms.occupancy.labelled_occupancy`), the jobs
  put estimators side by side or join ``n`` with :func:`combine_occupancy`;
- ``transitions`` (:data:`TRANSITIONS`): switches of the dominant phase over ``transition``,
  ``transitions.nc``; the engine builds it (:func:`bayes_tms.occupancy.transitions`), the jobs
  put the phase and family levels one after the other with :func:`combine_transitions` and
  the readers pick one level with :func:`level_switches`;
- ``diagnostics`` and ``switch_summary`` (:data:`DIAGNOSTICS`, :data:`SWITCH_SUMMARY`): tables,
  one variable per column over ``row``, ``diagnostics.nc`` and ``switch_summary.nc``
  (:func:`bayes_tms.occupancy.diagnostics_table`, :func:`comparisons.jobs.bayes_pt.switch_summary`);
- ``plateaus`` (:data:`PLATEAUS`): SGD plateaus over ``plateau``, with their path summary over
  ``path`` and their moves over ``move``, ``plateaus.nc`` (:func:`sgd_tms.phases.labelled_plateaus`);
- ``llc`` (:data:`LLC`): ``estimate`` and ``se`` with ``method``, ``beta`` and ``n``, ``llc.nc``
  (one :class:`comparisons.theory.LLCEstimate` gives one with scalars; a table of estimates
  :func:`comparisons.jobs.llc_accuracy.llc_table`);
- ``figure2`` (:data:`FIGURE2`): the paper's Figure 2 reproduced, three panels of occupancy over
  ``(panel, n, phase)`` with each panel's switch and predictions, ``figure2.nc``
  (:mod:`comparisons.figure2`).

Phase labels are strings everywhere (``"6"`` is never the number 6). A validator raises
:class:`ContractError` (an :class:`~comparisons.errors.InputError`, so the command line exits
with status 2) whose one-line message names the file, or the hand-off, and what is missing.
"""

from __future__ import annotations

__all__ = ["package_versions", "package_version", 
    "ContractError", "Contract", "POSTERIOR", "TRAJECTORY", "OCCUPANCY", "TRANSITIONS", "PLATEAUS", "DIAGNOSTICS",
    "SWITCH_SUMMARY", "LLC", "FIGURE2", "PLATEAU_COLUMNS", "TRANSITION_FIELDS", "is_label_array",
    "validate_posterior", "validate_trajectory", "validate_occupancy", "validate_transitions", "validate_plateaus",
    "validate_diagnostics", "validate_switch_summary", "validate_llc", "validate_figure2",
    "read_occupancy", "read_transitions", "read_plateaus", "read_diagnostics", "read_switch_summary", "read_llc",
    "read_figure2",
    "phase_order", "combine_occupancy", "combine_transitions", "level_switches", "switch_stretches",
    "nanmax_or_nan", "nanmin_or_nan",
]

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from .errors import InputError
from .theory.classify import UNCLASSIFIED


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of ``names`` (distribution names; ``"python"`` for the interpreter),
    leaving out those not installed. The provenance every output records: result stores key their
    tasks by it, reports print it, posteriors carry ``package_version``.

    Examples
    --------
    >>> sorted(package_versions("numpy", "python", "surely-not-installed"))
    ['numpy', 'python']
    """
    import platform
    from importlib import metadata

    out = {}
    for name in names:
        if name == "python":
            out[name] = platform.python_version()
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def package_version() -> str:
    """The installed version of ``tms-phases`` (``"unknown"`` when run from a source tree only)."""
    return package_versions("tms-phases").get("tms-phases", "unknown")


class ContractError(InputError):
    """A hand-off (in memory or on disk) does not have the names, dims or types of its contract."""


@dataclass(frozen=True)
class Contract:
    """Names of one hand-off.

    Attributes
    ----------
    name : str
        The hand-off (used in error messages).
    variables : mapping
        Required data variables and their dims.
    optional : mapping
        Variables that may be present, with their dims.
    labels : tuple of str
        Variables and coordinates that hold labels (strings).
    integers : tuple of str
        Variables and coordinates that hold integers.
    attrs : tuple of str
        Required attributes.
    """

    name: str
    variables: Mapping[str, tuple[str, ...]]
    optional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    attrs: tuple[str, ...] = ()


POSTERIOR = Contract(
    "posterior",
    {"W": ("chain", "draw", "hidden", "feature"), "b": ("chain", "draw", "feature"),
     "phase": ("chain", "draw"), "phase_distance": ("chain", "draw")},
    optional={"empirical_loss": ("chain", "draw"), "population_loss": ("chain", "draw")},
    labels=("phase",), attrs=("n", "beta", "prior_sigma", "seed"))

TRAJECTORY = Contract(
    "trajectory",
    {"W": ("run", "step", "hidden", "feature"), "b": ("run", "step", "feature"), "loss": ("run", "step")},
    optional={"llc": ("run", "step"), "population_loss": ("run", "step"), "phase": ("run", "step"),
              "llc_se": ("run", "step"), "diverged": ("run",)},
    labels=("phase",), integers=("run", "step"), attrs=("train_config",))

OCCUPANCY = Contract(
    "occupancy",
    {"fraction": ("estimator", "n", "phase"), "lower": ("estimator", "n", "phase"),
     "upper": ("estimator", "n", "phase"), "chains": ("estimator", "n", "phase")},
    optional={"log_mass": ("estimator", "n", "phase"), "log_mass_lower": ("estimator", "n", "phase"),
              "log_mass_upper": ("estimator", "n", "phase")},
    labels=("phase", "estimator"), integers=("n",), attrs=("level",))

#: variables of a transition and their kinds (``str``, ``int``, ``float``); the first six are required
TRANSITION_FIELDS: dict[str, type] = {
    "from": str, "to": str, "level": str, "n": float, "lower": float, "upper": float,
    "predicted_n": float, "predicted_n_laplace": float, "n_before": int, "n_after": int, "beta": float,
    "dominant_all_before": str, "dominant_all_after": str, "unclassified_before": float,
    "unclassified_after": float, "dominance": str}

TRANSITIONS = Contract(
    "transitions", {k: ("transition",) for k in list(TRANSITION_FIELDS)[:6]},
    optional={k: ("transition",) for k in list(TRANSITION_FIELDS)[6:]},
    labels=tuple(k for k, t in TRANSITION_FIELDS.items() if t is str),
    integers=tuple(k for k, t in TRANSITION_FIELDS.items() if t is int))

#: columns of ``sequences.csv`` (one row per plateau), in order
PLATEAU_COLUMNS = ["run", "order", "phase", "start_step", "end_step", "loss", "llc", "points"]

PLATEAUS = Contract(
    "plateaus", {**{k: ("plateau",) for k in PLATEAU_COLUMNS},
                 "path": ("path",), "path_runs": ("path",), "path_fraction": ("path",),
                 "move_run": ("move",), "move_from": ("move",), "move_to": ("move",)},
    labels=("phase", "path", "move_from", "move_to"),
    integers=("run", "order", "start_step", "end_step", "points", "path_runs", "move_run"), attrs=("runs",))

DIAGNOSTICS = Contract("diagnostics", {"n": ("row",)}, labels=("phase",), integers=("n",))

SWITCH_SUMMARY = Contract(
    "switch_summary", {k: ("row",) for k in ("convention", "beta", "from", "to", "mean", "sd", "values")},
    labels=("convention", "from", "to", "values"))

LLC = Contract("llc", {"estimate": (), "se": ()}, labels=("method",), attrs=("method", "beta", "n"))

#: the labels of one figure2 panel (sampler, convention, classifier, estimator), over ``panel``
_FIGURE2_LABELS = ("sampler", "convention", "classifier", "estimator")

FIGURE2 = Contract(
    "figure2",
    {**{k: ("panel", "n", "phase") for k in ("fraction", "lower", "upper")},
     **{k: ("panel",) for k in ("switch_n", "switch_lower", "switch_upper", "predicted_asymptotic", "predicted_o1",
                                "beta", *_FIGURE2_LABELS)}},
    labels=("panel", "phase", *_FIGURE2_LABELS), integers=("n",),
    attrs=("features", "seed", "seed_rule", "preset", "command"))

_LEVELS = ("phase", "family")


def is_label_array(values: Any) -> bool:
    """True when ``values`` holds strings only (numpy ``U``/``S`` or objects that are all ``str``)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "US":
        return True
    return arr.dtype.kind == "O" and all(isinstance(v, str) for v in arr.ravel())


def _fail(where: str, message: str) -> None:
    raise ContractError(f"{where}: {message}")


def _labels_to_str(ds: xr.Dataset, names: Sequence[str]) -> xr.Dataset:
    """netCDF gives variable-length strings back as objects: make label arrays ``<U``."""
    for name in names:
        if name in ds.variables and ds[name].dtype.kind in "OS":
            ds[name] = ds[name].astype(str)
    return ds


def _check(ds: Any, contract: Contract, where: str, dims_exact: bool = True) -> xr.Dataset:
    if not isinstance(ds, xr.Dataset):
        _fail(where, f"expected an xarray.Dataset ({contract.name}), got {type(ds).__name__}")
    for name, dims in {**contract.variables, **contract.optional}.items():
        if name not in ds.variables:
            if name in contract.variables:
                _fail(where, f"expected variable {name!r} of the {contract.name} contract, got "
                             f"{sorted(map(str, ds.data_vars))}")
            continue
        got = tuple(ds[name].dims)
        if (got != dims) if dims_exact else not set(dims) <= set(got):
            _fail(where, f"expected {name} with dims {dims}, got {got}")
    for name in contract.labels:
        if name in ds.variables and not is_label_array(ds[name].values):
            _fail(where, f"expected string labels in {name!r}, got dtype {ds[name].dtype}")
    for name in contract.integers:
        if name in ds.variables and ds[name].dtype.kind not in "iu":
            _fail(where, f"expected integers in {name!r}, got dtype {ds[name].dtype}")
    missing = [k for k in contract.attrs if k not in ds.attrs]
    if missing:
        _fail(where, f"expected attrs {missing} of the {contract.name} contract, got {sorted(ds.attrs)}")
    return _labels_to_str(ds, contract.labels)


def _open(path: str | os.PathLike, contract: Contract) -> xr.Dataset:
    path = Path(path)
    if not path.is_file():
        raise ContractError(f"{path}: expected a {contract.name} netCDF file, got none")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except (OSError, ValueError) as exc:
        raise ContractError(f"{path}: expected a readable {contract.name} netCDF file "
                            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def _source(obj: Any, contract: Contract) -> tuple[Any, str]:
    if isinstance(obj, (str, os.PathLike)):
        return _open(obj, contract), str(obj)
    return obj, contract.name


# --- the validators -----------------------------------------------------------------------------


def validate_posterior(obj: Any) -> Any:
    """Validate a posterior hand-off (an ArviZ InferenceData of one ``n``, or its netCDF path).

    The ``posterior`` group must hold :data:`POSTERIOR`'s variables with their dims, at least one
    of ``empirical_loss`` and ``population_loss``, string ``phase`` labels and the attrs
    ``n, beta, prior_sigma, seed``. Returns the (loaded) InferenceData, ``phase`` as ``<U``.
    """
    where = POSTERIOR.name
    if isinstance(obj, (str, os.PathLike)):
        import arviz as az

        where = str(obj)
        if not Path(obj).is_file():
            raise ContractError(f"{where}: expected a posterior netCDF file, got none")
        try:
            obj = az.from_netcdf(str(obj), engine="h5netcdf")
            for g in obj.groups():
                obj[g] = obj[g].load()
        except (OSError, ValueError, KeyError) as exc:
            raise ContractError(f"{where}: expected a readable posterior netCDF file "
                                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    post = getattr(obj, "posterior", None)
    if post is None:
        _fail(where, "expected an InferenceData with a posterior group, got none")
    obj.posterior = _check(post, POSTERIOR, where + " (posterior group)")
    if not {"empirical_loss", "population_loss"} & set(post.data_vars):
        _fail(where, "expected empirical_loss or population_loss in the posterior group, got neither")
    return obj


def validate_trajectory(obj: Any, *, finite: bool = True) -> xr.Dataset:
    """Validate the SGD trajectory hand-off (:data:`TRAJECTORY`); an object or a path.

    With ``finite`` (the default: a stored or handed-off trajectory), also checked: ``W``, ``b``
    and ``loss`` are finite in every run not flagged ``diverged`` (a diverged run is data, a NaN
    in another one is damage). ``finite=False`` checks the names and dims only: the LLC
    estimator takes a trajectory whose runs are not flagged yet and flags non-finite checkpoints
    itself.
    """
    ds, where = _source(obj, TRAJECTORY)
    ds = _check(ds, TRAJECTORY, where)
    if not finite:
        return ds
    kept = ~np.asarray(ds["diverged"].values, dtype=bool) if "diverged" in ds else np.ones(ds.sizes["run"], bool)
    for name in ("W", "b", "loss"):
        values = np.asarray(ds[name].values, dtype=float)[kept]
        if values.size and not np.isfinite(values).all():
            runs = ds["run"].values[kept][~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)]
            _fail(where, f"expected finite {name} in every run not flagged diverged, got NaN/inf in runs "
                         f"{[int(r) for r in runs[:5]]}")
    return ds


def validate_occupancy(obj: Any) -> xr.Dataset:
    """Validate an occupancy hand-off (:data:`OCCUPANCY`); an object or a path.

    Also checked: ``attrs["level"]`` is ``"phase"`` or ``"family"``, and fractions lie in
    ``[0, 1]`` where present.
    """
    ds, where = _source(obj, OCCUPANCY)
    ds = _check(ds, OCCUPANCY, where)
    if ds.attrs["level"] not in _LEVELS:
        _fail(where, f"expected attrs['level'] in {_LEVELS}, got {ds.attrs['level']!r}")
    f = ds["fraction"].values
    if np.any((f[np.isfinite(f)] < -1e-12) | (f[np.isfinite(f)] > 1 + 1e-12)):
        _fail(where, "expected fractions in [0, 1], got values outside")
    return ds


def validate_transitions(obj: Any) -> xr.Dataset:
    """Validate a transitions hand-off (:data:`TRANSITIONS`); an object or a path."""
    ds, where = _source(obj, TRANSITIONS)
    for name in ds.variables:  # an empty file holds no strings: nothing to check
        if name in TRANSITIONS.labels and ds.sizes.get("transition", 1) == 0:
            ds[name] = ds[name].astype(str)
    ds = _check(ds, TRANSITIONS, where)
    bad = [str(v) for v in ds["level"].values if v not in _LEVELS]
    if bad:
        _fail(where, f"expected level in {_LEVELS}, got {bad[0]!r}")
    return ds


def validate_plateaus(obj: Any) -> xr.Dataset:
    """Validate an SGD plateaus hand-off (:data:`PLATEAUS`); an object or a path."""
    ds, where = _source(obj, PLATEAUS)
    if isinstance(ds, xr.Dataset):
        for name, dim in (("phase", "plateau"), ("path", "path"), ("move_from", "move"), ("move_to", "move")):
            if name in ds and ds.sizes.get(dim, 1) == 0:  # an empty file holds no strings
                ds[name] = ds[name].astype(str)
    return _check(ds, PLATEAUS, where)


def _validate_table(obj: Any, contract: Contract) -> xr.Dataset:
    ds, where = _source(obj, contract)
    if isinstance(ds, xr.Dataset) and ds.sizes.get("row", 1) == 0:
        for name in contract.labels:
            if name in ds.variables:
                ds[name] = ds[name].astype(str)
    ds = _check(ds, contract, where)
    for name, var in ds.data_vars.items():
        if var.dims != ("row",):
            _fail(where, f"expected {name} with dims ('row',), got {var.dims}")
    return ds


def validate_diagnostics(obj: Any) -> xr.Dataset:
    """Validate a convergence-diagnostics hand-off (:data:`DIAGNOSTICS`); an object or a path.

    One ``row`` per ``n`` (and, for NUTS, per majority phase, ``phase == "all"`` for all chains);
    every other variable is a number, a label or a flag over ``row``.
    """
    return _validate_table(obj, DIAGNOSTICS)


def validate_switch_summary(obj: Any) -> xr.Dataset:
    """Validate the switch-over-data-sets summary (:data:`SWITCH_SUMMARY`); an object or a path."""
    return _validate_table(obj, SWITCH_SUMMARY)


def validate_llc(obj: Any) -> xr.Dataset:
    """Validate an LLC hand-off (:data:`LLC`); an object or a path.

    ``estimate`` and ``se`` share their dims (none for one estimate; e.g. ``(phase, n)`` for a
    table), ``attrs`` hold ``method``, ``beta`` and ``n`` (or coordinates of those names do, for
    a table over several), and every other data variable is a diagnostic on the same dims.
    """
    ds, where = _source(obj, LLC)
    if not isinstance(ds, xr.Dataset):
        _fail(where, f"expected an xarray.Dataset (llc), got {type(ds).__name__}")
    for name in ("estimate", "se"):
        if name not in ds.data_vars:
            _fail(where, f"expected variable {name!r} of the llc contract, got {sorted(map(str, ds.data_vars))}")
    if ds["se"].dims != ds["estimate"].dims:
        _fail(where, f"expected se with the dims of estimate {ds['estimate'].dims}, got {ds['se'].dims}")
    missing = [k for k in ("method", "beta", "n") if k not in ds.attrs and k not in ds.coords]
    if missing:
        _fail(where, f"expected {missing} as attrs or coordinates of the llc contract, got attrs {sorted(ds.attrs)}")
    for name, var in ds.data_vars.items():
        if not set(var.dims) <= set(ds["estimate"].dims):
            _fail(where, f"expected diagnostic {name!r} on the dims of estimate {ds['estimate'].dims}, got {var.dims}")
    labels = [str(k) for k in ("method", "phase") if k in ds.coords]
    for name in labels:
        if not is_label_array(ds[name].values):
            _fail(where, f"expected string labels in {name!r}, got dtype {ds[name].dtype}")
    if "method" in ds.attrs and not isinstance(ds.attrs["method"], str):
        _fail(where, f"expected attrs['method'] a string, got {ds.attrs['method']!r}")
    return _labels_to_str(ds, labels)


def validate_figure2(obj: Any) -> xr.Dataset:
    """Validate the paper's Figure 2 reproduced (:data:`FIGURE2`); an object or a path.

    Also checked: the panels are ``a, b, c`` in that order; fractions and their bounds lie in
    ``[0, 1]`` with ``lower <= upper`` (a percentile bootstrap interval need not hold the point
    estimate); ``beta`` is positive; a switch is either
    absent in all three of ``switch_n, switch_lower, switch_upper`` (NaN) or ordered
    ``lower <= n <= upper``; ``command`` is a ``tms-phases`` command line.
    """
    ds, where = _source(obj, FIGURE2)
    ds = _check(ds, FIGURE2, where)
    panels = [str(p) for p in ds["panel"].values]
    if panels != ["a", "b", "c"]:
        _fail(where, f"expected panels ['a', 'b', 'c'], got {panels}")
    f, lo, hi = (ds[k].values for k in ("fraction", "lower", "upper"))
    if not (np.isfinite(f).all() and np.isfinite(lo).all() and np.isfinite(hi).all()):
        _fail(where, "expected finite fractions and bounds (0 where a phase has no draw), got NaN")
    if ((f < -1e-12) | (f > 1 + 1e-12) | (lo < -1e-12) | (hi > 1 + 1e-12)).any():
        _fail(where, "expected fractions and bounds in [0, 1], got values outside")
    if (lo > hi + 1e-9).any():
        _fail(where, "expected lower <= upper in every cell, got an interval upside down")
    beta = ds["beta"].values
    if not (np.isfinite(beta) & (beta > 0)).all():
        _fail(where, f"expected a positive beta per panel, got {beta.tolist()}")
    sw = np.stack([ds[k].values for k in ("switch_lower", "switch_n", "switch_upper")])
    present = np.isfinite(sw)
    if (present.any(axis=0) != present.all(axis=0)).any():
        _fail(where, "expected switch_n, switch_lower and switch_upper all present or all NaN per panel, got a mix")
    ok = present.all(axis=0)
    if ((sw[0, ok] > sw[1, ok] + 1e-9) | (sw[1, ok] > sw[2, ok] + 1e-9)).any():
        _fail(where, "expected switch_lower <= switch_n <= switch_upper, got them out of order")
    command = ds.attrs["command"]
    if not (isinstance(command, str) and command.startswith("tms-phases ")):
        _fail(where, f"expected attrs['command'] a tms-phases command line, got {command!r}")
    return ds


def read_figure2(path: str | os.PathLike) -> xr.Dataset:
    """Read and validate ``figure2.nc``."""
    return validate_figure2(Path(path))


def read_occupancy(path: str | os.PathLike) -> xr.Dataset:
    """Read and validate ``occupancy.nc`` (or ``occupancy_family.nc``)."""
    return validate_occupancy(Path(path))


def read_transitions(path: str | os.PathLike) -> xr.Dataset:
    """Read and validate ``transitions.nc``."""
    return validate_transitions(Path(path))


def read_plateaus(path: str | os.PathLike) -> xr.Dataset:
    """Read and validate ``plateaus.nc``."""
    return validate_plateaus(Path(path))


def read_diagnostics(path: str | os.PathLike) -> xr.Dataset:
    """Read and validate ``diagnostics.nc``."""
    return validate_diagnostics(Path(path))


def read_switch_summary(path: str | os.PathLike) -> xr.Dataset:
    """Read and validate ``switch_summary.nc``."""
    return validate_switch_summary(Path(path))


def read_llc(path: str | os.PathLike) -> xr.Dataset:
    """Read and validate an LLC netCDF file."""
    return validate_llc(Path(path))


# --- hand-offs combined: occupancy estimators side by side, transitions of both levels


def phase_order(label: str) -> tuple:
    """Sort key of phase labels in an occupancy hand-off: by label, ``unclassified`` last."""
    return (label == UNCLASSIFIED, label)


def combine_occupancy(parts: Sequence[xr.Dataset], dim: str = "estimator", *,
                      attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
    """Occupancy hand-offs side by side (``dim="estimator"``) or joined along ``n`` (``dim="n"``).

    The union of their ``n`` and phases; a cell a part does not report is NaN (``chains`` -1);
    phases in :func:`phase_order`. The attrs are the first part's, updated with ``attrs``.
    """
    parts = [validate_occupancy(p) for p in parts]
    if not parts:
        raise ContractError("occupancy: expected at least one part to combine, got none")
    names = set().union(*(p.data_vars for p in parts))
    fill = {k: (-1 if k == "chains" or any(p[k].dtype.kind in "iu" for p in parts if k in p) else math.nan)
            for k in names}
    labels = ("estimator", "phase")  # as objects while joined: numpy would cut "nuts_bridge" to a first part's "<U2"
    parts = [p.assign_coords({k: p[k].values.astype(object) for k in labels}) for p in parts]
    ds = xr.concat(parts, dim, join="outer", fill_value=fill, combine_attrs="override")
    ds = ds.assign_coords({k: ds[k].values.astype(str) for k in labels})
    ds = ds.sel(phase=sorted(map(str, ds["phase"].values), key=phase_order))
    return validate_occupancy(ds.assign_attrs(**dict(attrs or {})))


def combine_transitions(parts: Sequence[xr.Dataset], *, attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
    """Transitions hand-offs one after the other along ``transition`` (e.g. the phase level, then families).

    ``transition`` is numbered afresh; the attrs are the first part's, updated with ``attrs``.
    """
    parts = [validate_transitions(p) for p in parts]
    if not parts:
        raise ContractError("transitions: expected at least one part to combine, got none")
    ds = xr.concat(parts, "transition", combine_attrs="override") if len(parts) > 1 else parts[0]
    ds = ds.assign_coords(transition=np.arange(ds.sizes["transition"]))
    return validate_transitions(ds.assign_attrs(**dict(attrs or {})))


def level_switches(ds: xr.Dataset, level: str = "phase") -> xr.Dataset:
    """The transitions of one labelling ``level`` (``"phase"`` or ``"family"``), in their order."""
    return ds.isel(transition=np.asarray(ds["level"].values) == level)


def nanmax_or_nan(values: Any) -> float:
    """``np.nanmax`` of ``values``, NaN (not a warning) when none is finite: an interval's upper end
    over crossings, or an R-hat over runs, where some or all can be missing."""
    v = np.asarray(values, dtype=float)
    return float(np.nanmax(v)) if np.isfinite(v).any() else np.nan


def nanmin_or_nan(values: Any) -> float:
    """``np.nanmin`` of ``values``, NaN when none is finite (see :func:`nanmax_or_nan`)."""
    v = np.asarray(values, dtype=float)
    return float(np.nanmin(v)) if np.isfinite(v).any() else np.nan


def switch_stretches(ds: xr.Dataset) -> xr.Dataset:
    """The switches of one labelling level with every run of crossings back and forth merged.

    Where two phases' fractions are level within the copies' noise, a refined ladder resolves the
    leading phase flipping between them (``5 -> 6``, ``6 -> 5``, ``5 -> 6`` a few ``n`` apart).
    Consecutive switches (in ``n``) that alternate between the same two phases, each starting
    from the phase the previous one led to, form one stretch. A stretch of an odd number of
    crossings is one switch, from the first one's ``from`` to the last one's ``to``: ``n`` the
    geometric mean of its first and last crossing, the interval from the smallest lower to the
    largest upper end over the stretch. Its crossings, one by one, would each claim a precision
    the noise does not give. A stretch of an even number (the lead goes and comes back) is kept
    as its crossings.

    Parameters
    ----------
    ds : xarray.Dataset
        Switches of one level (:func:`level_switches`), over ``transition`` with ``from``, ``to``,
        ``n``, ``lower``, ``upper`` (NaN where no interval).

    Returns
    -------
    xarray.Dataset
        Over ``transition`` (numbered afresh, sorted by ``n``): ``from``, ``to``, ``n``, ``lower``,
        ``upper``, ``n_first``, ``n_last`` and ``crossings`` (1 for a single crossing).
    """
    order = np.argsort(np.asarray(ds["n"].values, dtype=float), kind="stable")
    fr, to = (np.asarray(ds[k].values, dtype=str)[order] for k in ("from", "to"))
    n, lo, hi = (np.asarray(ds[k].values, dtype=float)[order] for k in ("n", "lower", "upper"))
    groups: list[list[int]] = []
    for i in range(len(n)):
        g = groups[-1] if groups else None
        if g and {fr[i], to[i]} == {fr[g[0]], to[g[0]]} and fr[i] == to[g[-1]]:
            g.append(i)
        else:
            groups.append([i])
    rows = []
    for g in groups:
        parts = [[i] for i in g] if len(g) % 2 == 0 else [g]
        for part in parts:
            a, b = part[0], part[-1]
            span_lo, span_hi = lo[part], hi[part]
            rows.append((fr[a], to[b], float(np.sqrt(n[a] * n[b])), nanmin_or_nan(span_lo), nanmax_or_nan(span_hi),
                         float(n[a]), float(n[b]), len(part)))
    cols = list(zip(*rows)) if rows else [[]] * 8
    names = ("from", "to", "n", "lower", "upper", "n_first", "n_last", "crossings")
    kinds = (str, str, float, float, float, float, float, np.int64)
    return xr.Dataset({k: ("transition", np.asarray(c, dtype=t)) for k, c, t in zip(names, cols, kinds)},
                      coords={"transition": np.arange(len(rows))}, attrs=dict(ds.attrs))
