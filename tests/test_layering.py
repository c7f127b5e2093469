"""The layering cannot rot silently: the theory imports no engine, the engines not each other."""

import doctest
import importlib
import subprocess
import sys

import pytest

HEAVY = ("torch", "pymc", "pytensor", "arviz")


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_theory_and_cli_entry_import_neither_torch_nor_pymc():
    for stmt in ("import comparisons.theory", "import comparisons", "import comparisons.cli",
                 "from comparisons.cli import main; main(['kgons', '-c', '3', '--format', 'json'])"):
        mods = loaded_after(stmt)
        assert not mods & set(HEAVY), (stmt, mods & set(HEAVY))


@pytest.mark.parametrize("engine, forbidden", [("bayes_tms", ("torch", "sgd_tms")),
                                               ("sgd_tms", ("pymc", "pytensor", "bayes_tms"))])
def test_engines_never_import_each_other(engine, forbidden):
    pytest.importorskip(engine)
    mods = loaded_after(f"import {engine}")
    assert not mods & set(forbidden)


@pytest.mark.parametrize("module", ["comparisons.theory.potential", "comparisons.theory.kgons",
                                    "comparisons.theory.classify", "comparisons.theory.free_energy",
                                    "comparisons.theory.onehot", "comparisons.theory.laplace"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
