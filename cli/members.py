"""Who belongs to the network: ``invite``, ``admit`` and ``leave``.

A node joins with an invitation from any member (``invite``), or a member
that cannot be reached admits it by its node id (``admit``). An admitter may
withdraw its own admission, after a preview of whose membership would end;
a group leaves by withdrawing what it published (``leave``). Nothing here
lets one node remove another from everyone's view (DESIGN.md "Membership").
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from node.home import running_pid
from node.settings import load_config
from node.store.membership import (
    DEFAULT_INVITATION_DAYS,
    MAX_INVITATION_USES,
    InvitationRow,
)
from node.sync.announce import InvitationAddress, invitation_address
from node.timestamps import utc_datetime
from protocol import (
    SignedEntry,
    format_invitation,
    id_to_text,
    parse_invitation,
    short_id,
)

from .common import HelpGroup, UserError, data_dir_option, json_option, open_store, run
from .output import echo_json, print_table

__all__ = ["admit", "invite", "leave"]

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([dhw]?)\s*\Z", re.IGNORECASE)


def parse_duration_days(text: str) -> float:
    """``7d``, ``12h``, ``2w`` or a number of days, as days."""
    found = _DURATION.match(text)
    if found is None:
        raise UserError(f"--expires: {text[:20]!r} is not a duration like 7d, 12h or 2w")
    value, unit = float(found.group(1)), found.group(2).lower()
    days = value / 24 if unit == "h" else value * 7 if unit == "w" else value
    if days <= 0:
        raise UserError("--expires: give a duration longer than nothing")
    return days


def _day(ms: int) -> str:
    return utc_datetime(ms).strftime("%Y-%m-%d %H:%M UTC")


# --- invite ----------------------------------------------------------------------------

@click.group(cls=HelpGroup, invoke_without_command=True,
             short_help="Invite a new node to the network.")
@data_dir_option
@click.option("--address", metavar="URL",
              help="Where the new node can reach this one [default: the public_url setting, "
                   "else where the running node listens].")
@click.option("--uses", type=click.IntRange(1, MAX_INVITATION_USES), default=1,
              show_default=True, help="How many nodes may join with the code.")
@click.option("--expires", "expires", default=f"{DEFAULT_INVITATION_DAYS}d", show_default=True,
              metavar="DURATION", help="How long the code is valid: 7d, 12h, 2w.")
@click.option("--note", default="", help="A note to remember whom it is for (kept here).")
@json_option
@click.pass_context
def invite(ctx: click.Context, data_dir: Path, address: str | None, uses: int, expires: str,
           note: str, as_json: bool) -> None:
    """Make an invitation code for a new node to join this network.

    The code carries the network id, this node's id and address, and a
    secret: whoever holds it can join, so give it only to the group it is
    for. It is shown once, works --uses times (once by default) and expires
    (after 7 days by default). `invite list` shows the codes made here and
    who joined with them; `invite withdraw ID` stops one.
    """
    if ctx.invoked_subcommand is not None:
        return
    days = parse_duration_days(expires)

    config = load_config(data_dir)

    async def make() -> tuple[str, InvitationAddress]:
        async with open_store(data_dir) as store:
            where = await invitation_address(store, config, given=address,
                                             running=running_pid(data_dir) is not None)
            invitation = await store.create_invitation(where.address, uses=uses, days=days,
                                                       note=note)
            return format_invitation(invitation), where

    code, where = run(make())
    if as_json:
        invitation = parse_invitation(code)
        echo_json({"invitation": code, "id": invitation.id.hex(),
                   "address": invitation.address, "address_from": where.source,
                   "warning": where.warning, "uses": uses,
                   "expires_ms": invitation.expires_s * 1000})
        return
    click.echo(code)
    # On stderr: the code alone goes to whoever reads stdout (a script, a file).
    click.echo(f"the new node will reach this one at {where.address} ({where.source})",
               err=True)
    if where.warning:
        click.echo(f"warning: {where.warning}", err=True)
    if sys.stdout.isatty():
        click.echo("")
        click.echo("This code is shown once and holds a secret: give it only to the group it "
                   "is for. On their new node, run:")
        click.echo(f"  hedgerow init --name NAME --level LEVEL --join {code}")


@invite.command("list")
@data_dir_option
@json_option
def invite_list(data_dir: Path, as_json: bool) -> None:
    """The invitations made here: open, used, expired or withdrawn, and who joined."""

    async def read() -> tuple[list[InvitationRow], int]:
        async with open_store(data_dir) as store:
            return await store.invitations(), store.now_ms()

    rows, now = run(read())
    if as_json:
        echo_json([{"id": r.id.hex(), "status": r.status(now), "address": r.address,
                    "note": r.note, "created_ms": r.created_ms,
                    "expires_ms": r.expires_ms, "uses": r.uses,
                    "uses_allowed": r.uses_allowed,
                    "joined": [id_to_text(n) for n in r.joined]}
                   for r in rows])
        return
    if not rows:
        click.echo("no invitations made here yet: `hedgerow invite` makes one")
        return
    print_table(("id", "status", "uses", "expires", "joined", "note"),
                [(r.id.hex(), r.status(now), f"{r.uses}/{r.uses_allowed}",
                  _day(r.expires_ms),
                  ", ".join(short_id(n) for n in r.joined) or "-",
                  r.note or "") for r in rows])


@invite.command("withdraw")
@data_dir_option
@click.argument("invitation_id", metavar="ID")
def invite_withdraw(data_dir: Path, invitation_id: str) -> None:
    """Stop an invitation from working (ID as `invite list` shows it, or its start)."""

    async def withdraw() -> bytes:
        async with open_store(data_dir) as store:
            return await store.withdraw_invitation(invitation_id)

    click.echo(f"withdrew invitation {run(withdraw()).hex()}: it no longer admits anyone")


# --- admit -----------------------------------------------------------------------------

def _node_argument(data_dir: Path, text: str) -> bytes:
    """NODE: a whole id (known here or not), or the short form of a node this one knows."""

    async def resolve() -> bytes:
        async with open_store(data_dir) as store:
            return await store.resolve_node(text)

    return run(resolve())


@click.command(short_help="Admit a node by its id, or withdraw an admission.")
@data_dir_option
@click.argument("node")
@click.option("--note", default="", help="A note published with the admission.")
@click.option("--withdraw", is_flag=True,
              help="Withdraw this node's admission of NODE instead (previewed first).")
@click.option("--reason", default="", help="With --withdraw: why (published with it).")
@click.option("--yes", is_flag=True, help="With --withdraw: do not ask for confirmation.")
@json_option
def admit(data_dir: Path, node: str, note: str, withdraw: bool, reason: str, yes: bool,
          as_json: bool) -> None:
    """Admit the node NODE (its id) to the network, or withdraw the admission.

    For a new node that cannot reach the member that invited it: it prints
    its id (`hedgerow keys show`), and any member admits it here. A node
    this one knows may be named by its short form (the start of its id). The signed
    admission spreads like any entry. With --withdraw, this node withdraws
    its own admission of NODE; every node whose membership ran only through
    that admission stops being a member, and the preview lists them first.
    """
    node_id = _node_argument(data_dir, node)
    if withdraw:
        _withdraw(data_dir, node_id, reason, yes, as_json)
        return

    async def sign() -> SignedEntry:
        async with open_store(data_dir) as store:
            return await store.admit(node_id, note=note)

    signed = run(sign())
    if as_json:
        echo_json({"admitted": id_to_text(node_id), "entry": signed.id.hex()})
        return
    click.echo(f"admitted {id_to_text(node_id)}; the admission spreads with the next syncs. "
               "That node can now sync with any member that knows it is admitted "
               "(`hedgerow sync <this node's address>` on it).")


def _withdraw(data_dir: Path, node_id: bytes, reason: str, yes: bool, as_json: bool) -> None:
    async def preview() -> set[bytes]:
        async with open_store(data_dir) as store:
            return await store.withdrawal_preview(node_id)

    ending = sorted(run(preview()))
    if not as_json:
        if ending:
            click.echo(f"Withdrawing this node's admission of {short_id(node_id)} ends the "
                       f"membership of {len(ending)} node{'s' if len(ending) != 1 else ''}:")
            for n in ending:
                click.echo(f"  {id_to_text(n)}")
        else:
            click.echo(f"Withdrawing this node's admission of {short_id(node_id)} ends no one's "
                       "membership: other admissions still lead to it.")
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("withdrawing an admission needs confirmation: run it again with "
                            "--yes")
        click.confirm("Withdraw the admission?", abort=True)

    async def sign() -> SignedEntry:
        async with open_store(data_dir) as store:
            return await store.withdraw_admission(node_id, reason=reason)

    signed = run(sign())
    if as_json:
        echo_json({"withdrawn": id_to_text(node_id), "entry": signed.id.hex(),
                   "membership_ends": [id_to_text(n) for n in ending]})
        return
    click.echo(f"withdrew the admission of {short_id(node_id)}; the withdrawal spreads with "
               "the next syncs")


# --- leave -----------------------------------------------------------------------------

@click.command(short_help="Leave the network: withdraw what this node published.")
@data_dir_option
@click.option("--reason", default="", help="Why (published with each withdrawal).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def leave(data_dir: Path, reason: str, yes: bool, as_json: bool) -> None:
    """Leave the network: withdraw this node's profile, practices and credits.

    Each is replaced everywhere by a signed withdrawal. The nodes this one
    admitted stay members: their admissions stay valid. The preview lists
    everything that would be withdrawn first.
    """

    async def preview() -> list[tuple[str, str]]:
        async with open_store(data_dir) as store:
            return await store.leave_preview()

    items = run(preview())
    if not items:
        if as_json:
            echo_json({"withdrawn": []})
        else:
            click.echo("this node has published nothing to withdraw")
        return
    if not as_json:
        click.echo("Leaving withdraws, from every node of the network:")
        for kind, key in items:
            click.echo(f"  {kind} {key}")
        click.echo("The nodes this one admitted stay members.")
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("leaving needs confirmation: run it again with --yes")
        click.confirm("Leave the network?", abort=True)

    async def go() -> list[SignedEntry]:
        async with open_store(data_dir) as store:
            return await store.leave(reason=reason)

    done = run(go())
    if as_json:
        echo_json({"withdrawn": [{"kind": k, "key": key} for k, key in items],
                   "entries": [s.id.hex() for s in done]})
        return
    click.echo(f"withdrew {len(done)} entr{'ies' if len(done) != 1 else 'y'}; the withdrawals "
               "spread with the next syncs")
