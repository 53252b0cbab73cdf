"""What the commands print for a person: help at 80 columns, views that fit the terminal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import reference
from cli.main import hedgerow
from node.demo import DemoNetwork

from .conftest import invoke, ok


def test_help_at_80_columns_lists_every_description_whole() -> None:
    """Command lists wrap a long description instead of cutting it off."""
    for ctx in reference._contexts(hedgerow, "hedgerow"):
        if not isinstance(ctx.command, click.Group):
            continue
        ctx.terminal_width = ctx.max_content_width = 80
        text = ctx.get_help()
        assert max(len(line) for line in text.splitlines()) <= 80
        commands = text.split("Commands:", 1)[1]
        assert "..." not in commands, f"{ctx.command_path} --help cuts a description:\n{text}"
        section = re.sub(r"\s+", " ", commands)
        for name in ctx.command.list_commands(ctx):
            command = ctx.command.get_command(ctx, name)
            assert command is not None
            assert command.get_short_help_str(limit=1000) in section, name


@pytest.fixture(scope="module")
def demo_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A node that holds the demo's sample network (its groups, practices and credits),
    where Headingley Repair Café also thanked Chapeltown for its play street, without
    adapting it."""
    import asyncio

    root = tmp_path_factory.mktemp("demo")

    async def build() -> Path:
        net = DemoNetwork(root, nodes=4, port_base=0, sync_interval=3600)
        await net.start()
        try:
            await net.settle()
            chapeltown, headingley = net.nodes[0], net.nodes[1]
            await headingley.store.publish_credit(chapeltown.node_id, "play-street",
                                                  note="Your letter got us started.")
            await net.settle()
        finally:
            await net.stop()
        return root / "node1"

    return asyncio.run(build())


def test_the_directory_fits_an_80_column_terminal(demo_node: Path) -> None:
    wide = invoke("view", "directory", "--data-dir", str(demo_node))
    narrow = invoke("view", "directory", "--data-dir", str(demo_node), env={"COLUMNS": "80"})
    assert wide.code == narrow.code == 0
    assert max(len(line) for line in narrow.out.splitlines()) <= 80, narrow.out
    for name in ("Chapeltown Play Out", "Headingley Repair Café", "Easton Community Fridge"):
        assert name in narrow.out
    # Node ids in text are the short form, as everywhere; --json has them whole.
    ids = json.loads(ok("view", "directory", "--json", "--data-dir", str(demo_node)))
    whole = ids["results"][0]["node"]
    assert whole not in wide.out + narrow.out and whole[:7] in narrow.out
    # Every value of the wide table is in the narrow one too.
    assert "title:" in narrow.out and "principles:" in narrow.out


def test_an_empty_view_says_so_instead_of_an_empty_table(demo_node: Path) -> None:
    out = ok("view", "timeline", "--theme", "no-such-theme", "--data-dir", str(demo_node))
    assert out.splitlines()[0] == "nothing to show with these options"
    assert "month" not in out and "totals: practices 0, nodes 0" in out


def test_a_node_that_only_credited_is_shown_as_crediting(demo_node: Path) -> None:
    chapeltown = json.loads(ok("keys", "show", "--json", "--data-dir", str(demo_node)))
    result = json.loads(ok("view", "spread", "--node", chapeltown["short_id"], "--key",
                           "play-street", "--json", "--data-dir", str(demo_node)))
    vias = {c["node_name"]: (c["via"], c["credited"]) for c in result["tree"]["children"]}
    only_credited = [name for name, (via, _) in vias.items() if via == "credit"]
    assert only_credited and all(vias[name][1] for name in only_credited)
    assert result["figures"]["crediting_nodes"] == len(only_credited)
    assert result["figures"]["adopting_nodes"] == sum(
        1 for via, _ in vias.values() if via == "adapted_from")
    text = ok("view", "spread", "--node", chapeltown["short_id"], "--key", "play-street",
              "--data-dir", str(demo_node))
    assert "adopting nodes" in text and "crediting nodes" in text


def test_the_search_option_is_query_or_q(demo_node: Path) -> None:
    long = ok("view", "directory", "--query", "repair", "--json", "--data-dir",
              str(demo_node))
    short = ok("view", "directory", "-q", "repair", "--json", "--data-dir", str(demo_node))
    assert long == short and json.loads(long)["total"] >= 1
    result = CliRunner().invoke(hedgerow, ["view", "directory", "--q", "repair",
                                           "--data-dir", str(demo_node)])
    assert result.exit_code == 2


def test_commands_to_run_next_name_the_program_as_the_shell_finds_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.common import program

    bin_dir = tmp_path / "clone" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "hedgerow"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path / "clone")
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr("sys.argv", [".venv/bin/hedgerow", "demo"])
    # Not on the PATH: as typed here, and by its whole path from another terminal.
    assert program() == ".venv/bin/hedgerow"
    assert program(anywhere=True) == str(script)
    # On the PATH only because this terminal activated the environment.
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("VIRTUAL_ENV", str(bin_dir.parent))
    monkeypatch.setattr("sys.argv", ["hedgerow", "demo"])
    assert program() == "hedgerow"
    assert program(anywhere=True) == str(script)
    # On the PATH for good (installed there): its name.
    monkeypatch.delenv("VIRTUAL_ENV")
    assert program() == program(anywhere=True) == "hedgerow"
    # Run as `python -m cli`: the installed command's name.
    monkeypatch.setattr("sys.argv", ["/src/cli/__main__.py"])
    assert program(anywhere=True) == "hedgerow"
