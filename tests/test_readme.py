"""The README's set-up commands are what CI runs, and its library example runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", setup, flags=re.S)]


def test_exactly_two_setup_commands_and_ci_runs_them_verbatim():
    cmds = readme_commands()
    assert len(cmds) == 2 and all("\n" not in c for c in cmds)
    assert cmds[0].startswith("python -m venv") and "torch==2.13.0" in cmds[0].split("pip install -e")[0]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert cmds[0] in ci and cmds[1] in ci
    assert ci.index(cmds[0]) < ci.index(cmds[1])


def test_readme_python_example_runs():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})
