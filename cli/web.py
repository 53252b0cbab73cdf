"""The node's web pages from the machine itself: ``setup-code`` and ``reset-password``.

Both work whether or not the node is running: the admin state is a file in
the data directory (node/web/admin.py), which a running node re-reads when
it changes.
"""

from __future__ import annotations

from pathlib import Path

import click

from node.web.admin import AdminFile, reset_password, setup_code_to_show

from .common import UserError, data_dir_option

__all__ = ["register", "reset_password_command", "setup_code"]


def _require_dir(data_dir: Path) -> None:
    if not data_dir.is_dir():
        raise UserError(f"there is no data directory {data_dir}: create a node with "
                        "`hedgerow init`, or start `hedgerow up` there")


@click.command("setup-code")
@data_dir_option
def setup_code(data_dir: Path) -> None:
    """Show the one-time code that the node's setup page asks for.

    The first person to open the node's pages sets the admin password there,
    and must type this code, so nobody else on the network can claim the node
    first. Once a password is set the code is spent.
    """
    _require_dir(data_dir)
    code = setup_code_to_show(data_dir)
    if code is None:
        raise UserError("this node's admin password is set already; if you are locked out, "
                        "run `hedgerow reset-password`")
    click.echo(code)


@click.command("reset-password")
@data_dir_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset_password_command(data_dir: Path, yes: bool) -> None:
    """Erase the pages' admin password and print a new setup code (for a locked-out group).

    Everybody is logged out. Open the node's pages, type the setup code, and
    choose a new password. The node's records are not touched.
    """
    _require_dir(data_dir)
    if not yes:
        claimed = AdminFile(data_dir).read().claimed
        question = ("Erase the admin password of the node's pages and log everybody out?"
                    if claimed else "The node has no admin password yet; make a new setup "
                    "code?")
        click.confirm(question, abort=True)
    code = reset_password(data_dir)
    click.echo("The admin password is erased and everybody is logged out.")
    click.echo(f"Setup code: {code}")
    click.echo("Open the node's pages, enter this code and choose a new password.")


def register(group: click.Group) -> None:
    """Add ``setup-code`` and ``reset-password`` to the root ``hedgerow`` group."""
    group.add_command(setup_code)
    group.add_command(reset_password_command)
