"""Every subcommand's --help states each default once and never prints '(default: None)'."""

import argparse

import pytest

from comparisons.cli import SUBCOMMANDS, build_parser, main


def subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_help_states_defaults_once(command, capsys):
    parser = subparser(command)
    formatter = parser._get_formatter()
    for action in parser._actions:
        text = formatter._get_help_string(action) or ""
        assert "(default: None)" not in text and "(default: False)" not in text, (action.dest, text)
        assert text.replace("%(default)s", "").count("(default") <= 1, (action.dest, text)
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0 and "usage: tms-phases" in capsys.readouterr().out
