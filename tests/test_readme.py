"""The README's command tables list exactly the flags `--help` shows."""

from __future__ import annotations

import re
from pathlib import Path

from composer.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def documented_flags() -> dict[str, set[str]]:
    """Per `### compose NAME` section of the Commands chapter, the flags in its table's first column."""
    chapter = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    for section in chapter.split("\n### compose ")[1:]:
        out[re.match(r"\w+", section).group()] = set(re.findall(r"^\| `(--[\w-]+)`", section, flags=re.M))
    return out


def test_every_command_and_flag_is_documented_and_nothing_else():
    docs = documented_flags()
    assert set(docs) == set(cli.commands)
    for name, command in cli.commands.items():
        flags = {o for p in command.params for o in p.opts if o.startswith("--")}
        assert docs[name] == flags, name


def test_the_readme_names_no_machine_paths_or_history():
    assert not re.search(r"/work/|/tmp/|[Ss]ession \d", README)
