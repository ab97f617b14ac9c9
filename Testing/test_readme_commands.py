"""The README's command reference is checked against the CLI itself: every command and every
option that `--help` offers is in the README's entry for that command."""

import re
from pathlib import Path

import pytest
import typer

from SpineFractureLib.cli.main import app

README = Path(__file__).resolve().parents[1] / "README.md"
#: "[same options ...]" in an entry: the entry it borrows from.
BORROWS = {"train-seg": "pretrain", "classify": "analyze"}


def _entries() -> dict[str, str]:
    text = README.read_text()
    block = text[text.index("## Command line"):]
    block = block[block.index("```text") + 7:]
    block = block[:block.index("```")]
    parts = re.split(r"\n(?=spinefracture [a-z])", "\n" + block)
    out = {}
    for part in parts:
        m = re.match(r"\s*spinefracture ([a-z-]+)", part)
        if m:
            out[m.group(1)] = part
    return out


COMMANDS = typer.main.get_command(app).commands


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_option_is_in_the_readme(name):
    entries = _entries()
    assert name in entries, f"`spinefracture {name}` is missing from the README's command reference"
    text = entries[name] + entries.get(BORROWS.get(name, ""), "")
    options = [o for p in COMMANDS[name].params for o in p.opts if o.startswith("--")]
    missing = [o for o in options if o.split("/")[0] not in text]
    assert not missing, f"README's entry for {name} lacks {missing}"
