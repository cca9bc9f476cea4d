"""--annotation-format takes the same formats in every command that labels: argparse refuses another
(naming the choices) before anything is read, in preview and validate as in process, run, plan and replay."""

from __future__ import annotations

import argparse

import pytest

from augment.cli import _parser
from augment.labels.formats import FORMATS


def _commands():
    return {name: sub for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)
            for name, sub in a.choices.items()}


@pytest.mark.parametrize("command", ["process", "run", "plan", "replay", "preview", "validate"])
def test_every_command_takes_the_formats_as_choices(command):
    action = next(a for a in _commands()[command]._actions if "--annotation-format" in a.option_strings)
    assert tuple(action.choices) == FORMATS and action.metavar is None


def test_preview_refuses_an_unknown_format_naming_the_choices(capsys, tmp_path):
    from augment.cli import main

    assert main(["preview", "light", "--annotations", str(tmp_path / "x.json"), "--annotation-format", "cocoa"]) == 2
    assert "--annotation-format: invalid choice: 'cocoa' (choose from" in capsys.readouterr().err
