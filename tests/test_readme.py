"""The README and the docs only show commands that exist: each one's ``--help`` exits 0."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
SHOWN = re.compile(r"cosmo-kg((?: [a-z][a-z0-9-]*(?:\\?\|[a-z][a-z0-9-]*)*)+)")


def _command_paths(text: str) -> set[tuple[str, ...]]:
    """Every command path in code written as ``cosmo-kg a b`` (``a|b`` alternatives expanded)."""
    paths: set[tuple[str, ...]] = set()
    code = "\n".join(span.group(0) for span in CODE.finditer(text))
    for match in SHOWN.finditer(code):
        words = [word.replace("\\|", "|").split("|") for word in match.group(1).split()]
        paths |= _resolve(cli, words)
    return paths


def _resolve(group: click.Group, words: list[list[str]]) -> set[tuple[str, ...]]:
    """The words that name commands, one path per alternative; a group's next word must be one."""
    if not words:
        return {()}
    found: set[tuple[str, ...]] = set()
    for name in words[0]:
        command = group.commands.get(name)
        if command is None:
            found.add((name,))
            continue
        rest = _resolve(command, words[1:]) if isinstance(command, click.Group) else {()}
        found |= {(name, *tail) for tail in rest}
    return found


SHOWN_PATHS = sorted({path for doc in DOCUMENTS for path in _command_paths(doc.read_text("utf-8"))})


def test_the_readme_shows_commands() -> None:
    assert len(_command_paths((ROOT / "README.md").read_text("utf-8"))) >= 15


@pytest.mark.parametrize("path", SHOWN_PATHS, ids=" ".join)
def test_every_shown_command_runs(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, f"`cosmo-kg {' '.join(path)}` is shown but fails: {result.output}"


def test_the_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text("utf-8").split()) <= 1200
