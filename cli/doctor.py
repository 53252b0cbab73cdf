"""``hedgerow doctor``: the node's health checks, one line each, and a diagnostic bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from node.doctor import Finding, needs_action, run_checks, write_bundle
from node.settings import load_config

from .common import UserError, data_dir_option, json_option, open_store, run
from .output import echo_json, size

__all__ = ["doctor"]


@click.command(short_help="Check the node's health and say what to do.")
@data_dir_option
@json_option
@click.option("--bundle", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a diagnostic bundle (a zip with nothing private in it) to FILE, "
                   "for whoever helps you.")
@click.option("--no-network", is_flag=True,
              help="Do not try the addresses the node announces.")
def doctor(data_dir: Path, as_json: bool, bundle: Path | None, no_network: bool) -> None:
    """Check disk space, the clock, storage wear, the database, peers, backups,
    whether the node answers where it says it does, and that its pages are claimed.

    Each finding is one line: ok, warn, or action (what to do). Exits 1 when
    something needs action.
    """
    if bundle is not None and bundle.exists():
        raise UserError(f"{bundle} already exists; refusing to overwrite it")
    config = load_config(data_dir)

    async def check() -> tuple[list[Finding], int | None]:
        async with open_store(data_dir) as store:
            findings = await run_checks(store, config, network=not no_network)
            written = (await write_bundle(store, config, findings, bundle)
                       if bundle is not None else None)
            return findings, written

    findings, written = run(check())
    if as_json:
        out: dict[str, Any] = {"needs_action": needs_action(findings),
                               "findings": [{"check": f.check, "status": f.status,
                                             "message": f.message} for f in findings]}
        if bundle is not None:
            out["bundle"] = str(bundle)
        echo_json(out)
    else:
        for finding in findings:
            click.echo(finding.line())
        if written is not None:
            click.echo(f"wrote the diagnostic bundle {bundle} ({size(written)}); it holds "
                       "nothing private")
    if needs_action(findings):
        raise SystemExit(1)
