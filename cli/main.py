"""The ``hedgerow`` command: the root group and where each command lives.

Each group of commands lives in its own module (identity, running, records,
sharing, peers, demo; the views in cli/views.py and the web pages' admin
commands in cli/web.py, which register their commands themselves through
``register(group)``). Commands are imported only when they
are run or listed, so ``hedgerow up`` starts without loading what only other
commands need (spreadsheet export, the demo's sample data): a node starts
faster and idles in less memory. The command reference in docs/commands.md
is generated from this group's help (``python -m cli.reference``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Final

import click

from .common import DATA_DIR_HELP, HedgerowGroup

__all__ = ["COMMANDS", "hedgerow", "main"]

#: Every command, in the order `hedgerow --help` lists them: "module:attribute",
#: or "module" for a module whose ``register(group)`` adds the command.
COMMANDS: Final = {
    "init": "cli.identity:init",
    "up": "cli.running:up",
    "demo": "cli.demo:demo",
    "status": "cli.running:status",
    "record": "cli.records:record",
    "share": "cli.sharing:share",
    "retract": "cli.sharing:retract",
    "credit": "cli.sharing:credit",
    "peer": "cli.peers:peer",
    "invite": "cli.members:invite",
    "admit": "cli.members:admit",
    "leave": "cli.members:leave",
    "sync": "cli.peers:sync",
    "keys": "cli.keysheet:keys",
    "profile": "cli.identity:profile",
    "backup": "cli.backups:backup",
    "restore": "cli.backups:restore",
    "caught-up": "cli.running:caught_up",
    "doctor": "cli.doctor:doctor",
    "view": "cli.views",
    "export": "cli.views",
    "verify": "cli.views",
    "setup-code": "cli.web",
    "reset-password": "cli.web",
    "install-service": "cli.service:install_service_command",
    "uninstall-service": "cli.service:uninstall_service_command",
}


class LazyGroup(HedgerowGroup):
    """The root group: imports a command's module the first time the command is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module_name, _, attribute = COMMANDS[cmd_name].partition(":")
            module = importlib.import_module(module_name)
            if attribute:
                self.add_command(getattr(module, attribute), cmd_name)
            else:
                module.register(self)
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hedgerow", prog_name="hedgerow")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP)
def hedgerow(data_dir: Path | None) -> None:
    """Hedgerow: a node in a federated network of local organisations.

    Keep your group's practice records private, share signed summaries with
    the network, and see what others do and who learned from whom.

    Start with `hedgerow demo` to watch a small network on this machine, or
    `hedgerow init` to create your node.
    """


def main() -> None:
    hedgerow(prog_name="hedgerow")
