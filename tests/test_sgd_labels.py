"""Loss-level vs structural labels of SGD checkpoints, and the named initialisations."""

import json

import numpy as np
import pytest
import xarray as xr

from comparisons.cli import main
from comparisons.errors import InputError
from comparisons.theory import UNCLASSIFIED, classify, enumerate_phases, population_loss, solve_kgon
from sgd_tms import (TrainConfig, compare_labellings, config_hash, count_subsequence,
                     default_loss_tolerance, initial_parameters, label_by_loss, label_checkpoints,
                     loss_levels, path_fractions, phase_sequences)

C = 6
PHASES = {p.label: p for p in enumerate_phases(C)}
B_PLUS = 1.0 / (2 * C)  # the optimum of a lone positive bias


def _four_gon(dead_biases):
    """The canonical 4-gon with the two dead columns' biases set: ``W[2, 6], b[6]``."""
    W, b = PHASES["4"].W.copy(), PHASES["4"].b.copy()
    b[4:] = dead_biases
    return W, b


def _dataset(points, population=None):
    """A trajectory ``(run, step)`` from per-run lists of ``(W, b)``; losses exact unless given."""
    W = np.array([[p[0] for p in run] for run in points])
    b = np.array([[p[1] for p in run] for run in points])
    pop = population_loss(W, b) if population is None else np.asarray(population, dtype=float)
    R, T = pop.shape
    return xr.Dataset(
        {"W": (("run", "step", "hidden", "feature"), W), "b": (("run", "step", "feature"), b),
         "loss": (("run", "step"), pop), "population_loss": (("run", "step"), pop)},
        coords={"run": np.arange(R), "step": 100 * np.arange(T), "hidden": [0, 1], "feature": np.arange(C)})


# ----------------------------------------------------------------------------- loss levels


def test_levels_are_the_distinct_enumerated_losses_with_joined_labels():
    levels, labels = loss_levels(C)
    assert np.all(np.diff(levels) > 0)
    assert set(np.round(levels, 9)) == {round(p.loss, 9) for p in PHASES.values()}
    for p in PHASES.values():  # every phase appears exactly once, at its own level
        hits = [i for i, lab in enumerate(labels) if p.label in lab.split("/")]
        assert len(hits) == 1 and abs(levels[hits[0]] - p.loss) < 1e-9
    assert any("/" in lab for lab in labels)  # e.g. 3++ and 4++- share a level


def test_default_tolerance_is_a_quarter_of_the_plus_gap():
    gap_plus = PHASES["4"].loss - PHASES["4+"].loss
    levels, _ = loss_levels(C)
    assert np.isclose(np.min(np.diff(levels)), gap_plus)
    assert np.isclose(default_loss_tolerance(C), gap_plus / 4)
    assert default_loss_tolerance(C, 0.5) == pytest.approx(2 * default_loss_tolerance(C))


def test_label_by_loss_inside_outside_tolerance_and_nan():
    tol = default_loss_tolerance(C)
    four = PHASES["4"].loss
    loss = np.array([four, four + 0.9 * tol, four - 0.9 * tol, four + 1.1 * tol, np.nan])
    labels, offset = label_by_loss(loss, C)
    assert list(labels) == ["4", "4", "4", UNCLASSIFIED, UNCLASSIFIED]
    assert np.allclose(offset[:4], [0, 0.9 * tol, -0.9 * tol, 1.1 * tol]) and np.isnan(offset[4])
    labels, _ = label_by_loss(loss[None, :4], C, tolerance=2 * tol)  # shape kept, wider tolerance
    assert labels.shape == (1, 4) and list(labels[0]) == ["4"] * 4
    with pytest.raises(InputError, match="tolerance"):
        label_by_loss(loss, C, tolerance=-1.0)


# ------------------------------------------------------- synthetic trajectories, both labellings


@pytest.fixture(scope="module")
def disagreeing():
    """Run 0: structure 4+ throughout its first 6 checkpoints (one dead bias > 0), but the bias is
    tiny for the first 3 (loss at the 4 level), then the 5-gon. Run 1: two positive dead biases
    (structure 4++), one tiny (loss at the 4+ level), then 4++ proper."""
    tiny = 0.005
    run0 = [_four_gon([tiny, -0.25])] * 3 + [_four_gon([B_PLUS, -0.25])] * 3 + [(PHASES["5"].W, PHASES["5"].b)] * 3
    run1 = [_four_gon([B_PLUS, tiny])] * 4 + [_four_gon([B_PLUS, B_PLUS])] * 5
    return _dataset([run0, run1])


def test_structure_and_loss_labels_of_the_synthetic_checkpoints(disagreeing):
    s = label_checkpoints(disagreeing)["phase"].values
    lo = label_checkpoints(disagreeing, "loss")["phase"].values
    assert list(s[0]) == ["4+"] * 6 + ["5"] * 3
    assert list(lo[0]) == ["4"] * 3 + ["4+"] * 3 + ["5"] * 3
    assert list(s[1]) == ["4++"] * 9
    assert list(lo[1]) == ["4+"] * 4 + ["4++"] * 5


def test_paths_under_both_labellings(disagreeing):
    by_s = path_fractions(phase_sequences(disagreeing))
    by_l = path_fractions(phase_sequences(disagreeing, labelling="loss"))
    assert dict(zip(by_s["path"], by_s["runs"])) == {"4+ > 5": 1, "4++": 1}
    assert dict(zip(by_l["path"], by_l["runs"])) == {"4 > 4+ > 5": 1, "4+ > 4++": 1}
    assert count_subsequence(phase_sequences(disagreeing, labelling="loss"), ["4", "4+", "5"]) == 1
    assert count_subsequence(phase_sequences(disagreeing), ["4", "4+", "5"]) == 0


def test_comparison_table_agreement_and_confusion(disagreeing):
    cmp = compare_labellings(disagreeing)
    rows = {r.path: (r.runs_structure, r.runs_loss) for r in cmp.paths.itertuples()}
    assert rows == {"4+ > 5": (1, 0), "4++": (1, 0), "4 > 4+ > 5": (0, 1), "4+ > 4++": (0, 1)}
    assert cmp.checkpoints == 18
    assert cmp.agreement == pytest.approx((6 + 5) / 18)  # run 0: 3 + 3 agree; run 1: 5 agree
    assert cmp.agreement_classified == pytest.approx(cmp.agreement)
    conf = {(r.structure, r.loss): r for r in cmp.confusion.itertuples()}
    assert conf[("4+", "4")].checkpoints == 3 and conf[("4++", "4+")].checkpoints == 4
    assert conf[("4+", "4")].median_dead_bias_1 == pytest.approx(0.005)
    assert conf[("4++", "4+")].median_dead_bias_2 == pytest.approx(0.005)
    assert conf[("4+", "4")].median_offset == pytest.approx(
        population_loss(*_four_gon([0.005, -0.25])) - PHASES["4"].loss)


def test_hand_set_population_losses_win_over_structure():
    """A 4+ structure whose population loss is put at the 4++ level, then at no level."""
    W, b = _four_gon([B_PLUS, -0.25])
    levels = [PHASES["4++"].loss] * 3 + [PHASES["4++"].loss + 0.5 * (PHASES["4+"].loss - PHASES["4++"].loss)] * 2
    ds = _dataset([[(W, b)] * 5], population=[levels])
    assert list(label_checkpoints(ds)["phase"].values[0]) == ["4+"] * 5
    assert list(label_checkpoints(ds, "loss")["phase"].values[0]) == ["4++"] * 3 + [UNCLASSIFIED] * 2
    train_loss = ds.assign(loss=ds["population_loss"] * 0 + PHASES["4"].loss)
    assert list(label_checkpoints(train_loss, "loss", loss_variable="loss")["phase"].values[0]) == ["4"] * 5


def test_default_labelling_is_the_structural_classifier(disagreeing):
    lab = label_checkpoints(disagreeing)
    expect, dist = classify(disagreeing["W"].values, disagreeing["b"].values)
    assert (lab["phase"].values == expect).all() and np.allclose(lab["phase_distance"].values, dist)
    # a structurally labelled Dataset is relabelled when the loss labelling is asked for
    seq = phase_sequences(lab, labelling="loss")
    assert set(seq["phase"]) == {"4", "4+", "4++", "5"}


def test_bad_labelling_names():
    ds = _dataset([[_four_gon([0.0, 0.0])] * 2])
    with pytest.raises(InputError, match="labelling: expected one of .*'tilt'"):
        label_checkpoints(ds, "tilt")
    with pytest.raises(InputError, match="loss_variable"):
        label_checkpoints(ds, "loss", loss_variable="llc")


def test_count_subsequence_contiguous_or_not():
    import pandas as pd

    seq = pd.DataFrame({"run": [0, 0, 0, 0, 1, 1], "order": [0, 1, 2, 3, 0, 1],
                        "phase": ["4", "4+", "4++", "5", "4+", "5"]})
    assert count_subsequence(seq, ["4", "4+", "5"]) == 0
    assert count_subsequence(seq, ["4", "4+", "5"], contiguous=False) == 1
    assert count_subsequence(seq, ["4+", "5"], contiguous=False) == 2


# --------------------------------------------------------------------------- initialisations


def _angles(W):
    return np.arctan2(W[..., 1, :], W[..., 0, :])


def test_paper_init_is_the_unrotated_unit_four_gon_with_zero_biases():
    W, b = initial_parameters(TrainConfig(runs=3, init="paper", init_noise=0.0), [0, 1, 2])
    assert W.shape == (3, 2, C) and b.shape == (3, C)
    four = np.stack([np.cos(np.pi / 2 * np.arange(4)), np.sin(np.pi / 2 * np.arange(4))])
    assert np.allclose(W[:, :, :4], four) and np.all(W[:, :, 4:] == 0) and np.all(b == 0)


def test_paper_init_noise_is_on_every_entry_with_the_stated_std():
    cfg = TrainConfig(runs=200, init="paper")
    W, b = initial_parameters(cfg, range(200))
    W0, b0 = initial_parameters(TrainConfig(runs=200, init="paper", init_noise=0.0), range(200))
    resid = np.concatenate([(W - W0).ravel(), (b - b0).ravel()])
    assert np.all(resid != 0)
    assert resid.std() == pytest.approx(0.01, rel=0.05) and abs(resid.mean()) < 0.001


def test_kgon_length_rotation_and_seeds():
    cfg = TrainConfig(runs=4, init="kgon", init_k=5, init_length=0.9, init_noise=0.0, seed=3)
    W, b = initial_parameters(cfg, range(4))
    norms = np.linalg.norm(W, axis=1)
    assert np.allclose(norms[:, :5], 0.9) and np.all(norms[:, 5:] == 0)
    assert np.allclose(b[:, :5], solve_kgon(5, C)[0][1]) and np.all(b[:, 5:] == 0)
    z = W[:, 0, :5] + 1j * W[:, 1, :5]  # vertex j at the run's rotation + 2 pi j / 5
    assert np.allclose(z / z[:, :1], np.exp(2j * np.pi * np.arange(5) / 5))
    first = _angles(W)[:, 0]
    assert len(np.unique(np.round(first, 6))) == 4  # a different rotation per run
    again, _ = initial_parameters(cfg, range(4))
    assert np.array_equal(W, again)  # same seed, same init
    other, _ = initial_parameters(TrainConfig(**{**cfg.to_dict(), "seed": 4}), range(4))
    assert not np.allclose(W, other)
    single, _ = initial_parameters(cfg, [2])  # a run's init does not depend on the others
    assert np.array_equal(single[0], W[2])


def test_kgon_default_length_is_the_critical_one_and_default_is_unchanged():
    cfg = TrainConfig(runs=2, init_k=5, init_noise=0.0)
    W, _ = initial_parameters(cfg, [0, 1])
    assert np.allclose(np.linalg.norm(W[:, :, :5], axis=1), solve_kgon(5, C)[0][0])
    assert TrainConfig().init == "kgon" and "init_length" not in TrainConfig().to_dict()
    assert config_hash(TrainConfig()) == config_hash(TrainConfig.from_dict(TrainConfig().to_dict()))
    with_length = TrainConfig(init_length=0.9)
    assert TrainConfig.from_dict(json.loads(json.dumps(with_length.to_dict()))) == with_length
    assert config_hash(with_length) != config_hash(TrainConfig())


def test_gaussian_init_scale():
    W, b = initial_parameters(TrainConfig(runs=300, init="gaussian", init_scale=0.3), range(300))
    assert W.shape == (300, 2, C) and b.shape == (300, C)
    assert np.concatenate([W.ravel(), b.ravel()]).std() == pytest.approx(0.3, rel=0.05)


@pytest.mark.parametrize("kwargs, match", [
    ({"init": "xavier"}, r"init: expected one of \('kgon', 'paper', 'gaussian'\), got 'xavier'"),
    ({"init": "paper", "init_k": 5}, "init_k"),
    ({"init": "paper", "init_length": 0.9}, "init_length: only for init = 'kgon'"),
    ({"init": "kgon", "init_length": -1.0}, "init_length"),
])
def test_bad_init_raises_one_line_input_error(kwargs, match):
    with pytest.raises(InputError, match=match) as err:
        TrainConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_cli_init_flag_and_labelling_outputs(tmp_path, capsys):
    argv = ["sgd", "--preset", "smoke", "--runs", "2", "--epochs", "6", "--n", "60", "--checkpoint-every", "2",
            "--init", "kgon", "--init-length", "0.9", "--no-llc", "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["train_config"]["init_length"] == 0.9
    assert 0 <= summary["labelling_agreement"]["agreement"] <= 1
    assert (tmp_path / "paths_by_loss.csv").read_text().splitlines()[0] == "path,runs,fraction"
    assert (tmp_path / "labelling_comparison.csv").read_text().splitlines()[0] == "path,runs_structure,runs_loss"
    assert main(argv[:-2] + ["--init", "nope", "--out", str(tmp_path)]) == 2
    capsys.readouterr()
