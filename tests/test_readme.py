"""The README's set-up commands are what CI runs, its library example runs, it stays short, and
every number in it comes from generated output."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS_COMMAND = ". .venv/bin/activate && tms-phases docs build"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", setup, flags=re.S)]


def typed_numbers(text: str) -> list[str]:
    """The numbers of ``text`` outside generated blocks, HTML comments, fenced code, inline code
    and link targets: the numbers a person typed."""
    text = re.sub(r"<!-- BEGIN generated: ([\w-]+) -->.*?<!-- END generated: \1 -->", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return re.findall(r"[^\s]*\d[^\s]*", text)


def test_exactly_two_setup_commands_and_ci_runs_them_verbatim():
    cmds = readme_commands()
    assert len(cmds) == 2 and all("\n" not in c for c in cmds)
    assert cmds[0].startswith("python -m venv") and "torch==2.13.0" in cmds[0].split("pip install -e")[0]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert cmds[0] in ci and cmds[1] in ci
    assert ci.index(cmds[0]) < ci.index(cmds[1])


def test_ci_builds_the_docs_with_the_readme_command_after_the_tests():
    text = (ROOT / "README.md").read_text()
    assert f"```bash\n{DOCS_COMMAND}\n```" in text
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert DOCS_COMMAND in ci and ci.index(DOCS_COMMAND) > ci.index(readme_commands()[1])


def test_readme_python_example_runs():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})


def test_readme_is_short_and_has_no_typed_numbers():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert typed_numbers(text) == []
    assert "<!-- BEGIN generated: figure2 -->" in text and "<!-- END generated: figure2 -->" in text


def test_typed_numbers_finds_prose_numbers_only():
    text = ("The switch is at 601 (x1.5).\n`n = 250` and [link](docs/a1.md)\n```bash\nrun --n 3\n```\n"
            "<!-- BEGIN generated: x -->\n42\n<!-- END generated: x -->\n")
    assert typed_numbers(text) == ["601", "(x1.5)."]


def test_readme_links_point_to_committed_files():
    text = (ROOT / "README.md").read_text()
    targets = [t.split("#", 1)[0] for t in re.findall(r"\]\(([^)]+)\)", text) if "://" not in t]
    assert targets and [t for t in targets if not (ROOT / t).is_file()] == []
