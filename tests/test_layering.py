"""The layering cannot rot silently: the theory imports no engine, the engines not each other."""

import ast
import doctest
import importlib
import subprocess
import sys
from pathlib import Path

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
                                    "comparisons.theory.onehot", "comparisons.theory.laplace",
                                    "comparisons.theory.local_free_energy"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# --- the source, read as data: who imports whom ------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("comparisons", "bayes_tms", "sgd_tms")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str | None = None) -> set[str]:
    """Absolute names of the project modules that ``path`` (module ``name``) imports.

    Relative imports are resolved; ``from a.b import c`` yields both ``a.b`` and ``a.b.c``.
    """
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        out |= {n for n in names if n.split(".")[0] in PACKAGES}
    return out


def project_graph() -> dict[str, set[str]]:
    """Module -> project modules it imports (names reduced to modules that exist)."""
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph = {}
    for mod, path in files.items():
        deps = set()
        for name in imports_of(path):
            while name and name not in files:  # `from pkg.mod import func` -> pkg.mod
                name = name.rpartition(".")[0]
            if name and name != mod:
                deps.add(name)
        graph[mod] = deps
    return graph


#: what an engine may import from comparisons: the ground floor, i.e. the numpy truth, the hand-off
#: contracts (one validator per hand-off, shared by both sides) and the error types
ENGINE_MAY_IMPORT = ("comparisons.theory", "comparisons.contracts", "comparisons.errors")


def test_engines_import_only_theory_and_errors_from_comparisons():
    bad = sorted(f"{mod} imports {dep}" for mod, deps in project_graph().items()
                 if mod.split(".")[0] in ("bayes_tms", "sgd_tms") for dep in deps
                 if dep.startswith("comparisons") and not dep.startswith(ENGINE_MAY_IMPORT))
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    graph = project_graph()
    # a package's __init__ re-exporting its modules is not a cycle of the code
    edges = {m: {d for d in deps if not (graph.get(d) is not None and d == m.rpartition(".")[0])}
             for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        for d in sorted(edges.get(m, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_the_scanner_resolves_absolute_and_relative_imports(tmp_path):
    planted = tmp_path / "x.py"
    planted.write_text("import numpy\nfrom comparisons.sweep import Task\nfrom ..theory import classify\n"
                       "from . import plots\n")
    found = imports_of(planted, "bayes_tms.sub.x")
    assert {"comparisons.sweep", "bayes_tms.theory.classify", "bayes_tms.sub.plots"} <= found
    assert not any(n.startswith("numpy") for n in found)


def test_the_llc_package_takes_no_private_names_from_another_module():
    """One LLC capability, one package: its modules share public names only (issue 19)."""
    bad = []
    for path in sorted((ROOT / "bayes_tms" / "llc").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in PACKAGES):
                bad += [f"{path.name}: from {'.' * node.level}{node.module or ''} import {a.name}"
                        for a in node.names if a.name.startswith("_")]
    assert not bad, "\n".join(bad)
    assert not (ROOT / "bayes_tms" / "population_llc.py").exists()
    assert not (ROOT / "comparisons" / "llc_accuracy.py").exists()


def test_the_contracts_are_a_ground_floor_module():
    """The engines may import the contracts, so the contracts import only the theory and the errors."""
    graph = project_graph()
    deps = {d for d in graph["comparisons.contracts"] if d.startswith("comparisons")}
    assert all(d.startswith(("comparisons.theory", "comparisons.errors")) for d in deps), deps
    assert not loaded_after("import comparisons.contracts") & set(HEAVY)


def test_one_validator_per_engine_hand_off():
    """The engines validate their hand-offs with the contracts' validators, not second ones (issue 19)."""
    import sgd_tms
    from comparisons.contracts import validate_trajectory

    assert not hasattr(sgd_tms, "validate_trajectory")
    assert importlib.import_module("sgd_tms.train").validate_trajectory is validate_trajectory
    src = (ROOT / "bayes_tms" / "sampling.py").read_text()
    assert "validate_posterior(" in src and "want = {" not in src


def test_one_version_helper():
    """Package versions are read in one place, comparisons.contracts.package_versions (issue 19)."""
    readers = sorted(str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                     if "metadata.version(" in p.read_text() or "from importlib.metadata import version" in p.read_text())
    assert readers == ["comparisons/contracts.py"], readers
    from comparisons.contracts import package_version, package_versions

    assert set(package_versions("numpy", "python", "no-such-distribution")) == {"numpy", "python"}
    assert package_version() != ""


def test_the_cli_imports_no_engine():
    """The CLI is parse -> config -> job -> print: configs and presets come through comparisons.jobs,
    which alone drives the engines (issue 19, item 3)."""
    bad = sorted(f"{mod} imports {dep}" for mod, deps in project_graph().items()
                 if mod.startswith("comparisons.cli") for dep in deps if dep.split(".")[0] in ("bayes_tms", "sgd_tms"))
    assert not bad, "\n".join(bad)
    planted = imports_of(ROOT / "comparisons" / "cli" / "bayes.py")
    assert any(n.startswith("comparisons.jobs.configs") for n in planted)  # the scan sees the cli's imports


def test_only_the_jobs_import_the_engines():
    """The analyses, the report, the contracts, the cost model, the store import no engine (issue 19):
    an engine is reached through ``comparisons.jobs`` only. Lazy imports inside functions count."""
    bad = sorted(f"{mod} imports {dep}" for mod, deps in project_graph().items()
                 if mod.split(".")[0] == "comparisons" and not mod.startswith("comparisons.jobs")
                 for dep in deps if dep.split(".")[0] in ("bayes_tms", "sgd_tms"))
    assert not bad, "\n".join(bad)
