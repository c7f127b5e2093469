"""Verdicts on synthetic inputs with known answers, and the report files."""

from html.parser import HTMLParser
from pathlib import Path

import pytest

import pandas as pd
import xarray as xr

from comparisons.compare import (bayes_moves, dominant_sequence, monotone_verdict, phase_coordinates,
                                 prediction_verdict, sgd_moves, transition_comparison)
from comparisons.document import inline_html
from occupancy_toys import occupancy_of, transitions_of
from comparisons.io import write_netcdf
from comparisons.report import write_report
from comparisons.theory import enumerate_phases
from sgd_tms.phases import labelled_plateaus, path_fractions, phase_moves

#: a stored quick run of the paper's Figure 2 (tests/test_figure2.py)
FIGURE2_FIXTURE = Path(__file__).parent / "data" / "figure2_quick_seed0.nc"

OCC = [  # n, phase, fraction
    (100, "5", 0.7), (100, "4", 0.2), (100, "unclassified", 0.1),
    (300, "5", 0.6), (300, "6", 0.3),
    (600, "6", 0.5), (600, "5", 0.45),
    (1000, "6", 0.9), (1000, "unclassified", 0.95),  # 6 leads the classified draws only
]
OCC_ROWS = [{"n": n, "phase": p, "fraction": f, "lower": f - 0.1, "upper": f + 0.1, "chains": 8} for n, p, f in OCC]
OCC_DS = occupancy_of({"nuts_bridge": OCC_ROWS})
PLATEAUS = [
    {"run": 0, "order": 0, "phase": "4", "start_step": 0, "end_step": 10, "loss": 0.11, "llc": 6.0},
    {"run": 0, "order": 1, "phase": "4+", "start_step": 10, "end_step": 20, "loss": 0.104, "llc": 6.5},
    {"run": 0, "order": 2, "phase": "5", "start_step": 20, "end_step": 30, "loss": 0.069, "llc": 7.0},
    {"run": 1, "order": 0, "phase": "4", "start_step": 0, "end_step": 10, "loss": 0.11, "llc": 6.0},
    {"run": 1, "order": 1, "phase": "5", "start_step": 12, "end_step": 30, "loss": 0.069, "llc": 7.1},
    {"run": 2, "order": 0, "phase": "5", "start_step": 0, "end_step": 30, "loss": 0.069, "llc": 7.0},
    {"run": 2, "order": 1, "phase": "4", "start_step": 30, "end_step": 40, "loss": 0.11, "llc": 6.0},
]


def test_dominant_sequence_and_moves():
    seq = dominant_sequence(OCC_DS)
    assert [(s["phase"], s["n_from"], s["n_to"]) for s in seq] == [("5", 100, 300), ("6", 600, 1000)]
    # at n = 1000 the unclassified mass (0.95) exceeds the leading phase's (0.9): said, not hidden
    assert [(s["leads_all_mass"], s["unclassified"]) for s in seq] == [(True, 0.1), (False, 0.95)]
    assert bayes_moves(OCC_DS) == [("5", "6")]
    assert sgd_moves(plateaus_of(PLATEAUS)) == [(0, "4", "4+"), (0, "4+", "5"), (1, "4", "5"), (2, "5", "4")]
    assert phase_moves(pd.DataFrame([{**PLATEAUS[0], "run": 7}])).empty  # one plateau: no move


def test_monotone_verdict_counts_exceptions():
    coords = {"4": (0.11, 6.0), "4+": (0.104, 6.5), "5": (0.069, 7.0), "6": (0.048, 8.5)}
    v = monotone_verdict("SGD", [(a, b) for _, a, b in sgd_moves(plateaus_of(PLATEAUS))], coords)
    assert v.answer == "no" and "3 of 4" in v.detail  # 75% is below the 80% of "mostly"
    assert "5->4 x1" in v.detail
    assert monotone_verdict("B", [("5", "6")], coords).answer == "yes"
    assert monotone_verdict("B", [("6", "5")], coords).answer == "no"
    assert monotone_verdict("B", [("x", "y")], coords).answer == "no data"
    # with the real c = 6 theory, 5 -> 6 lowers the loss and raises the LLC
    assert monotone_verdict("B", [("5", "6")], phase_coordinates(enumerate_phases(6))).answer == "yes"


def test_prediction_verdict():
    verdicts = prediction_verdict(transitions_of([
        {"from": "5", "to": "6", "n": 550, "lower": 450, "upper": 700, "predicted_n": 601},
        {"from": "4", "to": "5", "n": 150, "lower": 120, "upper": 180, "predicted_n": 10.5},
        {"from": "6", "to": "7", "n": 900, "lower": None, "upper": None, "predicted_n": 1000},
        {"from": "5", "to": "6", "n": 236, "lower": 218, "upper": 278, "predicted_n_laplace": 225},
    ]))
    # each switch judged on both predictions, asymptotic then O(1); one it lacks (NaN) is undecided
    assert [v.answer for v in verdicts] == ["yes", "undecided", "no", "undecided", "undecided", "undecided",
                                            "undecided", "yes"]
    yes, lap_yes = verdicts[0], verdicts[7]
    assert "O(1) terms" in lap_yes.question
    assert "1.09" in yes.detail  # predicted / measured


def test_transition_comparison_and_paths():
    rows = transition_comparison(transitions_of([{"from": "5", "to": "6", "n": 600, "lower": 500, "upper": 700,
                                                  "predicted_n": 601}]), plateaus_of(PLATEAUS, runs=3))
    first = rows[0]
    assert (first["from"], first["to"], first["sgd_count"]) == ("5", "6", 0)
    four_five = next(r for r in rows if (r["from"], r["to"]) == ("4", "5"))
    assert four_five["bayes_n"] is None and four_five["sgd_runs_fraction"] == pytest.approx(1 / 3)
    paths = {p: k for p, k in path_fractions(pd.DataFrame(PLATEAUS), runs=4)[["path", "runs"]].values}
    assert paths == {"4 > 4+ > 5": 1, "4 > 5": 1, "5 > 4": 1, "(no plateau)": 1}


def write_bayes(folder, occupancy, transitions=(), estimator="nuts_bridge", attrs=None):
    """A Bayesian folder's hand-offs as the jobs write them (``occupancy.nc``, ``transitions.nc``)."""
    folder.mkdir(exist_ok=True)
    attrs = {"beta": 1.0, "classifier": "hull", **(attrs or {})}
    write_netcdf(occupancy_of({estimator: occupancy}, attrs=attrs), folder / "occupancy.nc")
    write_netcdf(transitions_of(transitions), folder / "transitions.nc")


def plateaus_of(plateaus, runs=3):
    """The plateaus hand-off of small plateau tables, as the SGD engine builds it (with paths and moves)."""
    return labelled_plateaus(pd.DataFrame([{"points": 3, **r} for r in plateaus]), runs)


def write_sgd(folder, plateaus, runs=3):
    """An SGD folder's hand-off as the job writes it (``plateaus.nc`` with paths and moves)."""
    folder.mkdir(exist_ok=True)
    write_netcdf(plateaus_of(plateaus, runs), folder / "plateaus.nc")


def test_report_files_from_synthetic_engine_outputs(tmp_path):
    write_bayes(tmp_path / "bayes", OCC_ROWS, [{"from": "5", "to": "6", "n": 450, "lower": 300, "upper": 600,
                                                "predicted_n": 601.0, "level": "phase"}])
    write_sgd(tmp_path / "sgd", PLATEAUS)
    import shutil

    (tmp_path / "figure2").mkdir()
    shutil.copy(FIGURE2_FIXTURE, tmp_path / "figure2" / "figure2.nc")
    md, html = write_report(tmp_path, 6, tmp_path / "bayes", tmp_path / "sgd", {"preset": "test"}, {"bayes": 1.0},
                            figure2_dir=tmp_path / "figure2")
    text = md.read_text()
    for fragment in ("## Verdicts", "Bayesian switch 5 -> 6", "**yes**", "## Bayesian versus dynamical",
                     "comparison.png", "phases.png", "4 > 4+ > 5", '"preset": "test"', "numpy",
                     "NUTS chains with ladder-bridge reweighting, hull classifier, beta = 1 (tempered)"):
        assert fragment in text, fragment
    # the paper's Figure 2 leads, with its verdicts computed from the stored data
    from comparisons.contracts import read_figure2
    from comparisons.figure2 import figure2_verdicts

    assert text.index("## The paper's Figure 2, reproduced") < text.index("## Verdicts")
    assert all(v in text for v in figure2_verdicts(read_figure2(FIGURE2_FIXTURE)))
    for png in ("figure2.png", "phases.png", "comparison.png", "sgd_transitions.png"):
        assert (tmp_path / png).stat().st_size > 1000
    assert not list(tmp_path.glob("occupancy_compare*"))  # the report writes no hand-off
    page = html.read_text()
    assert page.count("data:image/png;base64,") >= 3 and "<table>" in page
    assert_valid_html(page)
    assert "<strong>yes</strong>" in page and "**" not in _text_of(page)


VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Checker(HTMLParser):
    """Tag-balance checker: every non-void element closed, in order."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] not in ("style", "code", "pre"):
            self.text.append(data)


def _text_of(page: str) -> str:
    p = _Checker()
    p.feed(page)
    return "".join(p.text)


def assert_valid_html(page: str) -> None:
    p = _Checker()
    p.feed(page)
    p.close()
    assert page.lower().startswith("<!doctype html>")
    assert not p.errors and not p.stack, (p.errors, p.stack)


def test_inline_markdown_is_rendered_and_escaped():
    out = inline_html("a **yes**, `x*y*` and *em*, 2*3*4 <b> [link](https://example.org)")
    assert out == ("a <strong>yes</strong>, <code>x*y*</code> and <em>em</em>, 2*3*4 &lt;b&gt; "
                   "<a href='https://example.org'>link</a>")
    assert_valid_html("<!doctype html><html><body><p>" + out + "</p></body></html>")


def test_html_checker_catches_broken_markup():
    with pytest.raises(AssertionError):
        assert_valid_html("<!doctype html><html><body><p><b>x</p></body></html>")


def test_report_pipeline_stages_draw_without_writing_and_lay_out_from_the_data(tmp_path):
    """load -> verdicts -> figures (returned) -> sections: nothing is written before the last stage."""
    import matplotlib.figure
    import matplotlib.pyplot as plt

    from comparisons.document import Figure, Heading
    from comparisons.report import compute_verdicts, draw_figures, figure_names, lay_out, load_inputs

    write_bayes(tmp_path / "bayes", OCC_ROWS, [{"from": "5", "to": "6", "n": 450, "lower": 300, "upper": 600,
                                                "predicted_n": 601.0, "level": "phase"}], estimator="pt",
                attrs={"beta": 0.5, "classifier": "gated"})
    write_sgd(tmp_path / "sgd", PLATEAUS)
    before = set(tmp_path.rglob("*"))
    inputs = load_inputs(6, tmp_path / "bayes", tmp_path / "sgd", config={"preset": "test"})
    verdicts = compute_verdicts(inputs)
    assert verdicts.sequence[0]["phase"] == "5" and any("Bayesian switch 5 -> 6" in v for v in verdicts.lines)
    figures = draw_figures(inputs, verdicts)
    assert list(figures) == figure_names(inputs) == ["phases", "comparison", "occupancy_crossings", "sgd_transitions"]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figures.values())
    for f in figures.values():
        plt.close(f)
    blocks = lay_out(inputs, verdicts, {k: tmp_path / f"{k}.png" for k in figures})
    assert set(tmp_path.rglob("*")) == before  # judged, drawn and laid out: nothing written
    headings = [b.text for b in blocks if isinstance(b, Heading)]
    assert headings[1] == "Verdicts"  # without figure2.nc the verdicts lead
    # titles and captions come from the data's attrs: sampler, classifier, beta and its convention
    text = " ".join(getattr(b, "text", "") + getattr(b, "caption", "") for b in blocks)
    assert "replica exchange over the n-ladder, gated classifier, beta = 1/2 (gaussian-sigma1)" in text
    assert any(isinstance(b, Figure) and b.path == tmp_path / "comparison.png" for b in blocks)
    # the move-by-move table: the SGD moves beside the Bayesian sequence of the leading run
    assert "Dynamical and Bayesian transitions, move by move" in headings
    assert verdicts.correspondence is not None and verdicts.correspondence.attrs["features"] == 6
    assert any(isinstance(b, Figure) and b.path == tmp_path / "occupancy_crossings.png" for b in blocks)


def test_report_without_engine_outputs_says_so(tmp_path):
    md, _ = write_report(tmp_path, 5, tmp_path / "nope", None, {}, {})
    text = md.read_text()
    assert "Not run (no bayes/occupancy.nc)" in text and "Not run (no sgd/plateaus.nc)" in text


def test_occupancy_estimators_side_by_side_and_mixing_flags(tmp_path):
    from comparisons.analysis import agreement, mixing_verdict

    a = [{"n": 100, "phase": "5", "fraction": 0.6, "lower": 0.5, "upper": 0.7},
         {"n": 200, "phase": "6", "fraction": 0.8, "lower": 0.7, "upper": 0.9}]
    b = [{"n": 100.0, "phase": "5", "fraction": 0.65, "lower": 0.55, "upper": 0.75},
         {"n": 200.0, "phase": "6", "fraction": 0.3, "lower": 0.2, "upper": 0.4},
         {"n": 300.0, "phase": "6", "fraction": 0.9, "lower": 0.8, "upper": 1.0}]
    both = occupancy_of({"pt": a, "bridge": b})
    assert list(both["n"].values) == [100, 200, 300] and both["phase"].dtype.kind == "U"
    ag = agreement(both, "pt", "bridge")
    assert ag["ns"] == [100, 200] and (ag["agree"], ag["cells"]) == (1, 2)
    assert ag["disagree"] == [(200, "6", 0.8, 0.3)]
    nuts = xr.Dataset({"n": ("row", [1, 2, 2]), "phase": ("row", ["all", "all", "5"]),
                       "rhat_loss": ("row", [1.8, 1.0, 9.0])})  # a NUTS diagnostics hand-off
    assert mixing_verdict(nuts) == ("no", [1])
    pt = xr.Dataset({"n": ("row", [1, 2]), "mixed": ("row", [True, False]), "rhat_loss": ("row", [1.0, 1.0])})
    assert mixing_verdict(pt) == ("no", [2])  # the PT flag decides
    assert mixing_verdict(nuts.isel(row=[])) == mixing_verdict(None) == ("no data", [])


def test_phase_labels_stay_strings_through_the_files(tmp_path):
    from comparisons.report import load_bayes, load_sgd

    write_bayes(tmp_path / "b", OCC_ROWS)
    write_sgd(tmp_path / "s", PLATEAUS)
    occ = load_bayes(tmp_path / "b")["occupancy"]
    assert list(occ["phase"].values) == ["4", "5", "6", "unclassified"] and occ["phase"].dtype.kind == "U"
    assert occ["n"].dtype.kind == "i"
    sgd = load_sgd(tmp_path / "s")
    plateaus = sgd["plateaus"]
    assert set(plateaus["phase"].values) == {"4", "4+", "5"}
    assert all(plateaus[k].dtype.kind == "U" for k in ("phase", "move_from", "move_to", "path"))


def test_one_llc_scale_exact_or_measured_never_a_bound():
    from comparisons.compare import learning_coefficients, llc_scale_table

    phases = enumerate_phases(6)
    coef = learning_coefficients(phases)
    for p in phases:
        if p.llc is not None:
            assert coef[p.label] == (p.llc, 0.0, "exact")
        elif getattr(p, "llc_measured", None) is not None:
            assert coef[p.label][2] == "measured" and coef[p.label][0] == p.llc_measured
        else:
            assert p.label not in coef  # a bound is not a coefficient
    rows = llc_scale_table(phases, plateaus_of(PLATEAUS))
    five = next(r for r in rows if r["phase"] == "5")
    assert five["plateaus"] == 3 and five["estimate"] == pytest.approx(7.0)  # median of 7.0, 7.1, 7.0
    assert five["bias"] == pytest.approx(0.0) and five["kind"] == "exact"
    assert [r["phase"] for r in rows] == ["4", "4+", "5"]  # by decreasing loss; unclassified left out


def test_three_estimator_verdict_on_synthetic_tables():
    from comparisons.analysis import estimators_verdict
    from comparisons.errors import InputError

    def table(f5, f6, half=0.05):
        return [{"n": n, "phase": p, "fraction": f, "lower": f - half, "upper": f + half}
                for n, a, b in zip((100, 200), f5, f6) for p, f in (("5", a), ("6", b))]

    pt, bridge = table((0.7, 0.2), (0.3, 0.8)), table((0.72, 0.25), (0.28, 0.75))
    agree = estimators_verdict(occupancy_of({"pt": pt, "nuts_bridge": bridge, "smc": table((0.68, 0.22), (0.32, 0.78))}),
                               ["pt", "nuts_bridge", "smc"])
    assert agree["verdict"] == "agree" and not agree["odd_one_out"] and not agree["unattributed"]
    assert [(p["a"], p["b"], p["agree"], p["cells"]) for p in agree["pairs"]] == [
        ("pt", "nuts_bridge", 4, 4), ("pt", "smc", 4, 4), ("nuts_bridge", "smc", 4, 4)]
    # SMC puts n = 200 the other way round: it alone disagrees, on both phases there
    rows = occupancy_of({"pt": pt, "nuts_bridge": bridge, "smc": table((0.7, 0.6), (0.3, 0.4))})
    one = estimators_verdict(rows, ["pt", "nuts_bridge", "smc"])
    assert one["verdict"] == "disagree" and one["odd_one_out"] == {"smc": [(200, "5"), (200, "6")]}
    assert not one["unattributed"]
    # all three apart at one cell: no single estimator to blame
    rows = occupancy_of({"pt": pt, "nuts_bridge": table((0.72, 0.5), (0.28, 0.5)), "smc": table((0.7, 0.8), (0.3, 0.2))})
    spread = estimators_verdict(rows, ["pt", "nuts_bridge", "smc"])
    assert spread["verdict"] == "disagree" and spread["unattributed"] == [(200, "5"), (200, "6")]
    with pytest.raises(InputError, match="estimators: expected at least two"):
        estimators_verdict(rows, ["pt"])


def test_report_shows_three_estimators_and_the_odd_one_out(tmp_path):
    """The figure2 job writes ``occupancy_compare.nc``; the report reads it and judges the estimators."""
    from comparisons.document import to_markdown
    from comparisons.errors import InputError
    from comparisons.jobs.figure2 import compare_estimators
    from comparisons.report import compute_verdicts, estimators_blocks, load_inputs

    switch = [{"from": "5", "to": "6", "n": 150.0, "lower": 120.0, "upper": 190.0, "level": "phase"}]
    for name, estimator, f6 in (("pt", "pt", 0.8), ("bridge", "nuts_bridge", 0.75), ("smc", "smc", 0.2)):
        rows = [{"n": 200, "phase": "6", "fraction": f6, "lower": f6 - 0.05, "upper": f6 + 0.05, "chains": 4},
                {"n": 200, "phase": "5", "fraction": 1 - f6, "lower": 0.95 - f6, "upper": 1.05 - f6, "chains": 4}]
        if name == "smc":  # what `tms-phases free-energy` writes: smc_occupancy.nc, no classifier recorded
            (tmp_path / name).mkdir()
            write_netcdf(occupancy_of({"smc": rows}, attrs={"beta": 0.5}), tmp_path / name / "smc_occupancy.nc")
        else:
            write_bayes(tmp_path / name, rows, switch, estimator=estimator, attrs={"beta": 0.5})
    dirs = {"pt_dir": tmp_path / "pt", "nuts_dir": tmp_path / "bridge", "smc_dir": tmp_path / "smc"}
    assert compare_estimators(tmp_path / "figure2", **dirs) == tmp_path / "figure2" / "occupancy_compare.nc"
    inputs = load_inputs(6, None, None, figure2_dir=tmp_path / "figure2",
                         estimator_dirs={"pt": tmp_path / "pt", "nuts_bridge": tmp_path / "bridge"})
    assert inputs.compare.attrs["classifier"] == "hull" and inputs.compare.attrs["beta"] == 0.5
    text = to_markdown(estimators_blocks(inputs, compute_verdicts(inputs)), tmp_path)
    assert "three estimators of the occupancy" in text and "hull classifier, beta = 1/2 (gaussian-sigma1)" in text
    assert "`smc` disagrees with all the others, which agree with each other, at n = 200 5, n = 200 6" in text
    assert "the same switches by pt and nuts_bridge" in text
    header, *lines = (tmp_path / "figure2" / "occupancy_compare.csv").read_text().splitlines()
    assert {ln.split(",")[2] for ln in lines} == {"pt", "nuts_bridge", "smc"}
    write_netcdf(occupancy_of({"smc": rows}, attrs={"beta": 1.0}), tmp_path / "smc" / "smc_occupancy.nc")
    with pytest.raises(InputError, match="expected every estimator at one beta"):
        compare_estimators(tmp_path / "figure2", **dirs)


def test_phase_table_shows_exact_measured_or_bound_coefficients():
    from comparisons.report import _coefficient_text
    from comparisons.theory import enumerate_phases

    by = {p.label: p for p in enumerate_phases(6)}
    assert _coefficient_text(by["6"]) == 8.5
    four = by["4"]
    assert _coefficient_text(four) == f"{four.llc_measured:.2f} +- {four.llc_se:.2f} (measured; wall)"
    assert _coefficient_text(by["3"]) == "<= 6 (wall)"  # not measured at c = 6
