"""Running as a service: ``install-service`` and ``uninstall-service`` (node/install.py)."""

from __future__ import annotations

from pathlib import Path

import click

from node import wall_clock_ms
from node.install import DATA_DIR, PREFIX, InstallPlan, install_service, uninstall_service
from node.service import lan_addresses

from .common import UserError

__all__ = ["install_service_command", "uninstall_service_command"]

_ROOT_HELP = ("Write the files under DIR instead of / (for tests and packagers): nothing is "
              "started, and no virtual environment is made unless --venv is given.")


@click.command("install-service", short_help="Install the node as a systemd service (root).")
@click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path),
              default=None, help=_ROOT_HELP)
@click.option("--source", metavar="DIR|URL", default=None,
              help="Install Hedgerow into the service's environment from here [default: "
                   "where this Hedgerow was installed from].")
@click.option("--venv/--no-venv", "make_venv", default=None,
              help="Make the service's own virtual environment [default: yes, except with "
                   "--root].")
@click.option("--port", type=click.IntRange(1, 65535), default=8470, show_default=True,
              help="The port the pages will be at (the port setting).")
def install_service_command(root: Path | None, source: str | None, make_venv: bool | None,
                            port: int) -> None:
    """Install this node as a systemd service, enable and start it (run with sudo).

    Makes its own virtual environment in /opt/hedgerow, the hedgerow system
    user, the data directory /var/lib/hedgerow with a new node in it (unless
    one is there), and a hardened unit; then prints the address of the
    first-run page and its setup code. Backups are taken every night into
    /var/lib/hedgerow/backups.
    """
    plan = InstallPlan(root=(root or Path("/")).resolve(), port=port)
    report = install_service(plan, source=source,
                             make_venv=make_venv if make_venv is not None else root is None,
                             now_ms=wall_clock_ms(),
                             log=lambda line: click.echo(f"  {line}"))
    click.echo("")
    if report.started:
        click.echo("Hedgerow is running as a service (`systemctl status hedgerow`, "
                   "`journalctl -u hedgerow -f`).")
    else:
        click.echo(f"Hedgerow's service is installed under {plan.root} (not started).")
    addresses = lan_addresses(port)
    if report.setup_code:
        click.echo(f"Now open {' or '.join(addresses)} in a browser on your network,")
        click.echo(f"type the setup code {report.setup_code} and choose the admin password.")
    else:
        click.echo(f"Its pages are at {' or '.join(addresses)} (the admin password is set).")
    click.echo(f"The node keeps its data and nightly backups in {DATA_DIR}; on the command "
               f"line: sudo -u hedgerow {PREFIX}/venv/bin/hedgerow --data-dir {DATA_DIR} status")


@click.command("uninstall-service", short_help="Remove the service (the data stays).")
@click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Remove the files written under DIR by install-service --root.")
@click.option("--remove-data", is_flag=True,
              help=f"Also delete the node's data in {DATA_DIR}, its backups there and the "
                   "hedgerow user. The node's records are gone for good.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def uninstall_service_command(root: Path | None, remove_data: bool, yes: bool) -> None:
    """Stop and remove the service and its environment; keep the data unless told otherwise."""
    plan = InstallPlan(root=(root or Path("/")).resolve())
    if remove_data and not yes:
        click.confirm(f"Delete the node's data in {plan.under_root(DATA_DIR)} for good "
                      "(records, key, backups)?", abort=True)
    steps = uninstall_service(plan, remove_data=remove_data,
                              log=lambda line: click.echo(f"  {line}"))
    if not steps:
        raise UserError("there is no Hedgerow service installed here")
    click.echo("Hedgerow's service is removed.")
