"""The typed hand-offs between engines and comparisons: validators, round trips, one cache, one LLC type.

What the real jobs write is checked in their own tests (``test_bayes_sweep``, ``test_jobs_bayes_pt``,
``test_sgd_io_cli``): each hand-off beside its CSV export. Here: every validator rejects a broken
file with one line naming it, labels stay strings, the report built from the netCDF hand-offs
equals the report built from the CSV tables it used to parse, the compiled-model cache compiles
once per key, and both LLC samplers give the one result type.
"""

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from comparisons import contracts
from comparisons.contracts import (TRANSITION_FIELDS, ContractError, combine_occupancy, combine_transitions,
                                   level_switches, read_diagnostics, read_llc, read_occupancy, read_plateaus,
                                   read_switch_summary, read_transitions, validate_diagnostics, validate_transitions)
from comparisons.errors import InputError
from comparisons.io import write_netcdf
from occupancy_toys import occupancy_of, transitions_of

# rows as the engines order them: per n, phases sorted with "unclassified" last
OCC = [{"n": n, "phase": p, "fraction": f, "lower": max(0.0, f - 0.05), "upper": min(1.0, f + 0.05), "chains": c}
       for n, p, f, c in [(100, "4", 0.25, 2), (100, "5", 0.65, 6), (100, "unclassified", 0.1, 0),
                          (300, "5", 0.55, 5), (300, "6", 0.4, 3), (300, "unclassified", 0.05, 0),
                          (600, "5", 0.3, 2), (600, "6", 0.7, 6),
                          (1000, "6", 0.45, 4), (1000, "unclassified", 0.55, 4)]]
LOG_MASS = [{"n": r["n"], "phase": r["phase"], "log_mass": math.log(r["fraction"]), "lower": -3.0, "upper": 0.0}
            for r in OCC if r["phase"] != "unclassified"]
TRANS = [{"from": "5", "to": "6", "n": 450.0, "lower": 320.0, "upper": 580.0, "predicted_n": 601.0,
          "predicted_n_laplace": 225.0, "n_before": 300, "n_after": 600, "level": "phase", "beta": 1.0,
          "dominant_all_before": "5", "dominant_all_after": "6", "unclassified_before": 0.05,
          "unclassified_after": 0.0, "dominance": "all"},
         {"from": "5", "to": "6", "n": 470.0, "lower": 300.0, "upper": 650.0, "predicted_n": None,
          "predicted_n_laplace": None, "n_before": 300, "n_after": 600, "level": "family", "beta": 1.0,
          "dominant_all_before": "5", "dominant_all_after": "6", "unclassified_before": 0.05,
          "unclassified_after": 0.0, "dominance": "all"}]
DIAG_COLUMNS = ["n", "phase", "chains", "draws", "divergences", "rhat_loss", "ess_bulk_loss", "switches"]
DIAG = [{"n": n, "phase": p, "chains": 8, "draws": 100, "divergences": d, "rhat_loss": r, "ess_bulk_loss": 250.0,
         "switches": 0} for n, p, d, r in [(100, "all", 0, 1.01), (100, "5", 0, 1.0), (300, "all", 2, 1.2),
                                            (600, "all", 0, 1.02), (1000, "all", 1, 1.03)]]
PLATEAUS = [{"run": r, "order": o, "phase": p, "start_step": s, "end_step": e, "loss": l, "llc": k, "points": 4}
            for r, o, p, s, e, l, k in [(0, 0, "4", 0, 10, 0.11, 6.0), (0, 1, "4+", 10, 20, 0.104, 6.5),
                                        (0, 2, "5", 20, 30, 0.069, 7.0), (1, 0, "4", 0, 10, 0.11, 6.0),
                                        (1, 1, "5", 12, 30, 0.069, float("nan")),
                                        (2, 0, "5", 0, 40, 0.069, 7.0)]]


def _plateaus_ds(runs=4):
    """The plateaus hand-off as the SGD engine builds it (its paths and moves beside the plateaus)."""
    from sgd_tms.phases import labelled_plateaus

    return labelled_plateaus(pd.DataFrame(PLATEAUS), runs)


def _column(records, key, kind):
    return np.array([np.nan if r[key] is None else r[key] for r in records], dtype=kind)


def _trans_ds(records=TRANS):
    return transitions_of(records)


def _diag_ds():
    """The NUTS diagnostics hand-off of DIAG (as bayes_tms.occupancy.diagnostics_table writes it)."""
    kinds = {"phase": str, "rhat_loss": float, "ess_bulk_loss": float}
    return validate_diagnostics(xr.Dataset({k: ("row", _column(DIAG, k, kinds.get(k, np.int64))) for k in DIAG_COLUMNS},
                                           coords={"row": np.arange(len(DIAG))}))


def _one_line(exc: Exception) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg, msg
    return msg


# --- round trips: what goes in comes out, labels as strings ---------------------------------------


def test_occupancy_round_trip_keeps_cells_and_string_labels(tmp_path):
    ds = occupancy_of({"nuts_bridge": OCC, "nuts_raw": OCC[:4]}, log_mass={"nuts_bridge": LOG_MASS})
    path = write_netcdf(ds, tmp_path / "occupancy.nc")
    back = read_occupancy(path)
    assert back["phase"].dtype.kind == "U" and back["estimator"].dtype.kind == "U"
    assert back["n"].dtype.kind == "i" and back.attrs["level"] == "phase"
    assert list(back["phase"].values) == ["4", "5", "6", "unclassified"]  # unclassified last
    bridge = back.sel(estimator="nuts_bridge")
    for r in OCC:
        cell = bridge.sel(n=r["n"], phase=r["phase"])
        assert float(cell["fraction"]) == r["fraction"] and int(cell["chains"]) == r["chains"]
    assert int(np.isfinite(back["fraction"].sel(estimator="nuts_raw")).sum()) == 4  # unreported cells are NaN
    assert int((back["chains"].sel(estimator="nuts_raw") == -1).sum()) == back.sizes["n"] * back.sizes["phase"] - 4
    for m in LOG_MASS:
        assert float(bridge["log_mass"].sel(n=m["n"], phase=m["phase"])) == m["log_mass"]
    assert np.isnan(back["log_mass"].sel(estimator="nuts_raw")).all()


def test_combine_occupancy_joins_along_n_and_refuses_nothing_to_join():
    by_n = [occupancy_of({"smc": [r for r in OCC if r["n"] == n]}) for n in (100, 300)]
    both = combine_occupancy(by_n, "n")
    assert list(both["n"].values) == [100, 300] and list(both["phase"].values) == ["4", "5", "6", "unclassified"]
    assert np.isnan(float(both["fraction"].sel(estimator="smc", n=100, phase="6")))
    with pytest.raises(ContractError, match="at least one"):
        combine_occupancy([])


def test_transitions_diagnostics_plateaus_round_trip(tmp_path):
    back = read_transitions(write_netcdf(_trans_ds(), tmp_path / "t.nc"))
    for k, kind in TRANSITION_FIELDS.items():  # every field, labels as strings, None as NaN
        assert back[k].dtype.kind == {str: "U", int: "i", float: "f"}[kind], k
        want = [math.nan if t[k] is None else t[k] for t in TRANS]
        assert back[k].values.tolist() == want or np.allclose(back[k].values, want, equal_nan=True), k
    assert read_transitions(write_netcdf(_trans_ds([]), tmp_path / "t0.nc")).sizes["transition"] == 0
    family = level_switches(back, "family")
    assert family["n"].values.tolist() == [470.0]
    diag = read_diagnostics(write_netcdf(_diag_ds(), tmp_path / "d.nc"))
    assert diag["divergences"].dtype.kind == "i" and diag["phase"].dtype.kind == "U"
    assert diag["divergences"].values.tolist() == [r["divergences"] for r in DIAG]
    assert diag.sel(row=diag["phase"] == "all")["n"].values.tolist() == [100, 300, 600, 1000]
    ds = read_plateaus(write_netcdf(_plateaus_ds(), tmp_path / "p.nc"))
    assert ds["phase"].values.tolist() == [r["phase"] for r in PLATEAUS]
    assert ds["run"].dtype.kind == "i" and ds["phase"].dtype.kind == "U" and ds.attrs["runs"] == 4
    assert math.isnan(float(ds["llc"][4])) and float(ds["llc"][2]) == 7.0
    moves = list(zip(ds["move_run"].values.tolist(), ds["move_from"].values, ds["move_to"].values))
    assert moves == [(0, "4", "4+"), (0, "4+", "5"), (1, "4", "5")]
    paths = list(zip(ds["path"].values, ds["path_runs"].values.tolist(), ds["path_fraction"].values.tolist()))
    assert paths == [("4 > 4+ > 5", 1, 0.25), ("4 > 5", 1, 0.25), ("5", 1, 0.25), ("(no plateau)", 1, 0.25)]


def test_combine_transitions_numbers_them_afresh_and_refuses_nothing():
    both = combine_transitions([_trans_ds(TRANS[:1]), _trans_ds(TRANS[1:])], attrs={"sampler": "nuts"})
    assert both["transition"].values.tolist() == [0, 1] and both["level"].values.tolist() == ["phase", "family"]
    assert both.attrs["sampler"] == "nuts"
    with pytest.raises(ContractError, match="at least one"):
        combine_transitions([])


def test_switch_summary_round_trip(tmp_path):
    from comparisons.jobs.bayes_pt import SUMMARY_COLUMNS, switch_summary

    rows = [{"convention": "tempered", "beta": 1.0, "dataset": d, "from": "5", "to": "6", "n": n,
             "predicted_n": 601.0, "predicted_n_laplace": None, "mixed": True}
            for d, n in (("0", 290.0), ("1", 310.0), ("population", 220.0))]
    summary = switch_summary(rows, datasets=2, seed=0)
    back = read_switch_summary(write_netcdf(summary, tmp_path / "s.nc"))
    assert list(back.data_vars) == SUMMARY_COLUMNS and back.sizes["row"] == 1 and back.attrs["seed"] == 0
    r = {k: v.item() for k, v in back.isel(row=0).data_vars.items()}
    assert (r["convention"], r["from"], r["to"], r["datasets"], r["datasets_run"]) == ("tempered", "5", "6", 2, 2)
    assert (r["mean"], r["population"], r["values"], r["all_mixed"]) == (300.0, 220.0, "290 310", True)
    assert r["predicted_n"] == 601.0 and math.isnan(r["predicted_n_laplace"])


# --- broken files: one line, the path, what is missing ---------------------------------------------


def _without_attrs(ds):
    ds = ds.copy()
    ds.attrs = {}
    return ds


def _numeric_phase(ds):
    return ds.assign_coords(phase=np.arange(ds.sizes["phase"]))


BROKEN = [
    ("occupancy", read_occupancy, lambda: _numeric_phase(occupancy_of({"a": OCC})), "string labels in 'phase'"),
    ("occupancy", read_occupancy, lambda: occupancy_of({"a": OCC}).drop_vars("upper"), "'upper'"),
    ("occupancy", read_occupancy, lambda: occupancy_of({"a": OCC}).assign_attrs(level="kgon"), "level"),
    ("occupancy", read_occupancy, lambda: occupancy_of({"a": OCC}).isel(estimator=0), "dims"),
    ("transitions", read_transitions, lambda: _trans_ds().drop_vars("to"), "'to'"),
    ("transitions", read_transitions, lambda: _trans_ds().assign(
        {"from": ("transition", [5.0, 5.0])}), "string labels in 'from'"),
    ("plateaus", read_plateaus, lambda: _plateaus_ds().assign(run=("plateau", np.zeros(len(PLATEAUS)))),
     "integers in 'run'"),
    ("plateaus", read_plateaus, lambda: _without_attrs(_plateaus_ds()), "attrs"),
    ("plateaus", read_plateaus, lambda: _plateaus_ds().drop_vars("move_to"), "'move_to'"),
    ("diagnostics", read_diagnostics, lambda: _diag_ds().drop_vars("n"), "'n'"),
    ("llc", read_llc, lambda: _llc_table([_llc_row()]).drop_vars("se"), "'se'"),
    ("llc", read_llc, lambda: _llc_table([_llc_row()]).drop_vars("method"), "method"),
]


def _llc_table(rows):
    from comparisons.jobs.llc_accuracy import llc_table

    return llc_table(rows)


def _llc_row(**kw):
    return {"phase": "6", "n": 1000, "method": "sgld", "llc": 8.1, "se": 0.2, "theory": 8.5, "theory_kind": "exact",
            "rel_error": -0.05, "quadratic": 8.3, "gamma": 1.0, "nbeta": 144.8, "wall_s": 1.0, **kw}


@pytest.mark.parametrize("name, reader, build, fragment", BROKEN)
def test_a_broken_file_is_refused_in_one_line_naming_it(tmp_path, name, reader, build, fragment):
    path = write_netcdf(build(), tmp_path / f"{name}.nc")
    with pytest.raises(ContractError) as info:
        reader(path)
    msg = _one_line(info.value)
    assert isinstance(info.value, InputError)
    assert msg.startswith(str(path)) and fragment in msg, msg


@pytest.mark.parametrize("reader", [read_occupancy, read_transitions, read_plateaus, read_diagnostics, read_llc])
def test_garbage_and_missing_files_are_refused(tmp_path, reader):
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"not a netcdf file")
    for path, fragment in ((junk, "readable"), (tmp_path / "none.nc", "got none")):
        with pytest.raises(ContractError) as info:
            reader(path)
        assert fragment in _one_line(info.value) and str(path) in str(info.value)


def test_validate_posterior_refuses_numeric_phases():
    import arviz as az

    post = xr.Dataset({"W": (("chain", "draw", "hidden", "feature"), np.zeros((1, 2, 2, 3))),
                       "b": (("chain", "draw", "feature"), np.zeros((1, 2, 3))),
                       "phase": (("chain", "draw"), np.array([["6", "6"]])),
                       "phase_distance": (("chain", "draw"), np.zeros((1, 2))),
                       "population_loss": (("chain", "draw"), np.zeros((1, 2)))},
                      attrs={"n": 10, "beta": 1.0, "prior_sigma": 1.0, "seed": 0})
    assert contracts.validate_posterior(az.InferenceData(posterior=post)).posterior["phase"].dtype.kind == "U"
    bad = post.assign(phase=(("chain", "draw"), np.array([[6, 6]])))
    with pytest.raises(ContractError, match="string labels in 'phase'"):
        contracts.validate_posterior(az.InferenceData(posterior=bad))
    with pytest.raises(ContractError, match="empirical_loss or population_loss"):
        contracts.validate_posterior(az.InferenceData(posterior=post.drop_vars("population_loss")))


def test_free_energy_bayes_dir_with_a_broken_occupancy_exits_2(tmp_path, capsys):
    from comparisons.cli import main

    bayes = tmp_path / "bayes"
    write_netcdf(_numeric_phase(occupancy_of({"nuts_bridge": OCC}, log_mass={"nuts_bridge": LOG_MASS})),
                 bayes / "occupancy.nc")
    assert main(["free-energy", "--n", "10", "--bayes-dir", str(bayes), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "occupancy.nc" in err and "string labels" in err
    assert not (tmp_path / "o").exists()


# --- the report: built from the netCDF hand-offs, the same as from the CSV tables --------------------


def _tables(blocks):
    from comparisons.document import Table, _cell

    return {b.caption: (tuple(b.columns), [[_cell(v) for v in row] for row in b.rows])
            for b in blocks if isinstance(b, Table)}


def test_the_report_shows_the_hand_offs_values(tmp_path):
    from comparisons.document import _cell
    from comparisons.report import build_report, load_bayes, load_sgd

    bayes_dir, sgd_dir = tmp_path / "bayes", tmp_path / "sgd"
    write_netcdf(occupancy_of({"nuts_bridge": OCC}), bayes_dir / "occupancy.nc")
    write_netcdf(_trans_ds(), bayes_dir / "transitions.nc")
    write_netcdf(_diag_ds(), bayes_dir / "diagnostics.nc")
    write_netcdf(_plateaus_ds(runs=3), sgd_dir / "plateaus.nc")
    (tmp_path / "b").mkdir()
    tables = _tables(build_report(tmp_path / "b", 6, load_bayes(bayes_dir), load_sgd(sgd_dir), {}, {}))
    assert len(tables) >= 8  # phases, dominant phases, switches, mixing, paths, ...
    switches = next(rows for cap, (_, rows) in tables.items() if cap.startswith("measured switches"))
    # every transition, None shown as "-"; mixed around 300 -> 600 is "no": R-hat 1.2 at n = 300
    assert switches == [[_cell(t[k]) for k in ("level", "from", "to", "n", "lower", "upper", "predicted_n",
                                               "predicted_n_laplace", "beta")] + ["no: n = 300"] for t in TRANS]
    mixing = next(rows for cap, (_, rows) in tables.items() if cap.startswith("convergence per n"))
    assert mixing == [[_cell(r[k]) for k in ("n", "chains", "draws", "rhat_loss", "ess_bulk_loss", "divergences",
                                             "switches")] for r in DIAG if r["phase"] == "all"]
    paths = next(rows for cap, (_, rows) in tables.items() if cap.startswith("distinct phase paths"))
    assert paths == [["4 > 4+ > 5", "1", _cell(1 / 3)], ["4 > 5", "1", _cell(1 / 3)], ["5", "1", _cell(1 / 3)]]
    moves = next(rows for cap, (_, rows) in tables.items() if cap.startswith("moves made by each process"))
    assert ["5", "6", "450", "320-580", "601", "225", "0", "0"] in moves  # the phase-level switch only
    assert ["4", "5", "-", "-", "-", "-", "1", _cell(1 / 3)] in moves


# --- one compiled-model cache ----------------------------------------------------------------------


def test_model_cache_compiles_once_per_key():
    from bayes_tms.cache import ModelCache

    cache, built = ModelCache("test"), []
    build = lambda: built.append(1) or object()  # noqa: E731
    first = cache.get(("onehot", 6), build)
    assert cache.get(("onehot", 6), build) is first and cache.builds == 1 and len(built) == 1
    cache.get(("dense", 6), build)
    assert cache.builds == 2 and ("dense", 6) in cache and len(cache) == 2
    cache.discard(("dense", 6))
    assert ("dense", 6) not in cache


def test_a_second_posterior_with_the_same_model_compiles_nothing():
    from bayes_tms import BayesConfig, ModelCache, sample_posterior
    from comparisons.theory import sample_inputs

    cfg = BayesConfig(features=4, ns=(30, 60), chains=2, draws=10, warmup=10, cores=1, backend="pymc")
    cache = ModelCache()
    a = sample_posterior(sample_inputs(30, 4, 0), cfg, progress=False, cache=cache)
    b = sample_posterior(sample_inputs(60, 4, 0), cfg, progress=False, cache=cache)
    assert cache.builds == 1 and len(cache) == 1
    assert (a.posterior.attrs["n"], b.posterior.attrs["n"]) == (30, 60)


def test_smc_tasks_share_one_compiled_model(monkeypatch):
    from comparisons.jobs import free_energy

    calls = []
    monkeypatch.setattr(free_energy, "smc_log_evidence", lambda x, config, model: calls.append(model) or model)
    monkeypatch.setattr(free_energy, "_TASK_MODELS", type(free_energy._TASK_MODELS)("test"))
    tasks = free_energy.smc_tasks(free_energy.SMCConfig(features=4, ns=(20, 40), seed=0, particles=10))
    models = [free_energy.smc_task(t) for t in tasks]
    assert free_energy._TASK_MODELS.builds == 1 and models[0] is models[1]


# --- one LLC result type ---------------------------------------------------------------------------


def test_both_samplers_return_the_one_llc_type_and_its_hand_off(tmp_path):
    from comparisons.theory import LLCEstimate, enumerate_phases, sample_inputs
    from sgd_tms.calibration import recommended_config, sgld_point_llc

    p = next(q for q in enumerate_phases(6) if q.label == "6")
    est = sgld_point_llc(p.W, p.b, sample_inputs(1000, 6, 0), recommended_config(1000, chains=2, draws=60, warmup=10))
    assert isinstance(est, LLCEstimate) and est.method == "sgld"
    assert est.accept == est.diagnostics["accept"] and est.trace.dims == ("chain", "draw")
    ds = read_llc(write_netcdf(est.to_dataset(), tmp_path / "llc.nc"))
    assert float(ds["estimate"]) == est.llc and float(ds["se"]) == est.se
    assert ds.attrs["method"] == "sgld" and ds.attrs["n"] == 1000
    assert ds.attrs["beta"] == pytest.approx(est.nbeta / 1000)
    with pytest.raises(AttributeError):
        est.ess  # a NUTS diagnostic: not part of an SGLD estimate
    with pytest.raises(InputError, match="method"):
        LLCEstimate(1.0, 0.1, 10, 5.0, 1.0, 2, 10, 0.0, 0.1, "mcmc", None)
    table = read_llc(write_netcdf(_llc_table([_llc_row(), _llc_row(method="nuts", n=2000)]),
                                  tmp_path / "table.nc"))
    assert list(table["method"].values) == ["sgld", "nuts"] and table["phase"].dtype.kind == "U"


def _switches(rows):
    """A one-level switches Dataset from ``(from, to, n, lower, upper)`` rows."""
    import xarray as xr

    cols = list(zip(*rows))
    return xr.Dataset({"from": ("transition", np.array(cols[0], dtype=str)),
                       "to": ("transition", np.array(cols[1], dtype=str)),
                       **{k: ("transition", np.array(c, dtype=float)) for k, c in zip(("n", "lower", "upper"), cols[2:])}},
                      coords={"transition": np.arange(len(rows))})


def test_switch_stretches_merge_flips_of_the_lead_and_keep_excursions():
    from comparisons.contracts import switch_stretches

    # c = 6 population run: 4 and 5 level at 69-71, then a clean 5 -> 6 (rows out of order on purpose)
    st = switch_stretches(_switches([("5", "6", 266.8, 262.5, 269.7), ("4", "5", 68.7, 66.6, 70.0),
                                     ("5", "4", 70.2, 69.0, 70.7), ("4", "5", 72.0, 71.4, 72.7)]))
    assert list(zip(st["from"].values, st["to"].values)) == [("4", "5"), ("5", "6")]
    assert st["crossings"].values.tolist() == [3, 1]
    assert st["n"].values[0] == pytest.approx(np.sqrt(68.7 * 72.0))
    assert (st["lower"].values[0], st["upper"].values[0]) == (66.6, 72.7)
    assert (st["n_first"].values[0], st["n_last"].values[0]) == (68.7, 72.0)
    assert st["n"].values[1] == 266.8 and st["lower"].values[1] == 262.5
    # an excursion that comes back (even count) stays as its crossings; a third phase breaks a stretch
    st = switch_stretches(_switches([("5", "6", 300.0, 290.0, 305.0), ("6", "5", 310.0, 305.0, 320.0),
                                     ("5", "6", 400.0, 390.0, 410.0), ("6", "7", 900.0, np.nan, np.nan),
                                     ("7", "6", 950.0, np.nan, np.nan), ("6", "7", 990.0, np.nan, np.nan)]))
    assert list(zip(st["from"].values, st["to"].values, st["crossings"].values.tolist())) == [
        ("5", "6", 3), ("6", "7", 3)]
    assert np.isnan(st["lower"].values[1]) and st["n"].values[1] == pytest.approx(np.sqrt(900 * 990))
    st = switch_stretches(_switches([("5", "6", 300.0, 290.0, 305.0), ("6", "5", 310.0, 305.0, 320.0)]))
    assert st["crossings"].values.tolist() == [1, 1] and st["to"].values.tolist() == ["6", "5"]
    assert switch_stretches(_switches([("5", "6", 1.0, 1.0, 1.0)]).isel(transition=[])).sizes["transition"] == 0
