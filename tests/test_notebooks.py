"""The notebooks (jupytext percent format) execute end to end at a tiny scale."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("TMS_NOTEBOOK_SCALE", "tiny")
    monkeypatch.setenv("TMS_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    executed = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert executed and all(cell.get("execution_count") for cell in executed), "a code cell did not run"
    if path.stem == "02_bayesian_transitions":  # the notebook's run left its outputs where it was told
        assert (tmp_path / "notebook-bayes" / "occupancy.csv").stat().st_size > 0
