"""The docs that come from the code are current, and the README's Quick start is exact."""

from __future__ import annotations

import re

import click

from cli import reference
from cli.main import hedgerow
from node.settings import SETTINGS
from node.store.datadir import KEY_FILE, SETTINGS_FILES

from .conftest import ROOT

QUICK_START_RUN = "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/hedgerow demo"


def test_the_command_reference_is_current() -> None:
    assert reference.COMMANDS_DOC.read_text(encoding="utf-8") == \
        reference.command_reference(), "run `python -m cli.reference`"


def test_the_readme_settings_table_is_current_and_complete() -> None:
    readme = reference.README.read_text(encoding="utf-8")
    assert reference.readme_with_settings(readme) == readme, "run `python -m cli.reference`"
    for setting in SETTINGS:
        assert f"| `{setting.name}` | `{setting.env}` |" in readme
        assert setting.help in readme


def test_every_command_is_in_the_reference_with_help() -> None:
    doc = reference.COMMANDS_DOC.read_text(encoding="utf-8")
    for ctx in reference._contexts(hedgerow, "hedgerow"):
        assert f"## `{ctx.command_path}`" in doc
        assert (ctx.command.help or "").strip(), f"{ctx.command_path} has no help"
        for param in ctx.command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert (param.help or "").strip() or (param.is_flag and param.name == "help"), \
                    f"{ctx.command_path} {param.opts[0]} has no help"


def test_quick_start_is_two_lines_and_the_test_line_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    lines = blocks[0].strip().splitlines()
    ci_line = next(line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                   if line.startswith("python3 -m venv"))
    assert lines == [QUICK_START_RUN, ci_line]


def test_the_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_the_readme_says_what_a_backup_holds() -> None:
    """The README's paragraph on backups names every file a backup carries and the one
    it leaves out on purpose (node/store/backup.py)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = next(p for p in readme.split("\n\n") if p.startswith("A backup holds"))
    text = " ".join(paragraph.split())
    for name in SETTINGS_FILES:
        assert f"`{name}`" in text, f"the README does not say a backup holds {name}"
    assert "the database" in text
    assert "except its key" in text and f"`{KEY_FILE}`" in text
