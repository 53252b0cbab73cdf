"""Who this node is: ``init``, ``invite``, ``keys`` and the organisation's ``profile``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from node import wall_clock_ms
from node.home import create_home
from node.settings import CONFIG_FILE_NAME
from node.store.datadir import key_path
from node.store.keyfile import KEY_FILE_HEADER, load_key_file
from protocol import (
    LEVELS,
    id_to_text,
    parse_invitation,
)

from .common import (
    HelpGroup,
    UserError,
    command_prefix,
    data_dir_option,
    json_option,
    open_store,
    run,
)
from .output import echo_json, entry_json

__all__ = ["init", "keys", "profile"]


# --- init ------------------------------------------------------------------------------

@click.command(short_help="Create this node: key, database, settings.")
@data_dir_option
@click.option("--name", default="", help="The organisation's name, as other groups will see it.")
@click.option("--area", default="", help="Where it works, e.g. a postcode district (LS6).")
@click.option("--level", type=click.Choice(LEVELS), default=None,
              help="The level it works at.")
@click.option("--new-network", is_flag=True, help="Start a new network (this node founds it).")
@click.option("--join", "code", metavar="CODE",
              help="Join with an invitation code from `hedgerow invite` on a member's node.")
@click.option("--network", "network_text", metavar="ID", hidden=True)
@json_option
def init(data_dir: Path, name: str, area: str, level: str | None, new_network: bool,
         code: str | None, network_text: str | None, as_json: bool) -> None:
    """Create a node: its key, its database and its configuration file.

    Choose one: --new-network founds a network (this node signs its genesis
    and is its first member), or --join CODE joins one with an invitation
    code from a member; the node joins in its first sync with that member.
    Nothing else is published until you say so.
    """
    if network_text is not None:
        raise UserError("a node no longer joins a network by its id: ask a member for an "
                        "invitation code (`hedgerow invite` on their node), then "
                        "`hedgerow init --join CODE`")
    if new_network == (code is not None):
        raise click.UsageError("choose one of --new-network or --join CODE"
                               + (" (not both)" if new_network else ""))
    invitation = parse_invitation(code) if code is not None else None
    home = create_home(data_dir, invitation=invitation, code=(code or "").strip(),
                       nonce=os.urandom(16) if new_network else None, seed=os.urandom(32),
                       now_ms=wall_clock_ms(), name=name, area=area, level=level)
    if as_json:
        echo_json({"data_dir": str(home.data_dir), "node_id": id_to_text(home.node_id),
                   "network": id_to_text(home.network, "network"),
                   "config_written": home.config_written, "first_peer": home.first_peer})
        return
    hedgerow = command_prefix(data_dir)
    click.echo(f"Created a node in {home.data_dir}")
    click.echo(f"  node id:  {id_to_text(home.node_id)}")
    click.echo(f"  network:  {id_to_text(home.network, 'network')}"
               + ("  (new: this node founded it)" if new_network else ""))
    if home.config_written:
        click.echo(f"  settings: {home.data_dir / CONFIG_FILE_NAME}")
    if home.first_peer:
        click.echo(f"  joins:    through {home.first_peer}, the node that invited it")
    click.echo("")
    click.echo("Next:")
    if not (name and level):
        click.echo(f"  {hedgerow} profile set --name NAME --level LEVEL   say who you are")
    if new_network:
        click.echo(f"  {hedgerow} profile publish     share your profile with the network")
        click.echo(f"  {hedgerow} up                  run the node")
        click.echo(f"  {hedgerow} invite              an invitation code for the next node")
    else:
        click.echo(f"  {hedgerow} up                  run the node: it joins the network first")
        click.echo(f"  {hedgerow} profile publish     once it has joined, share your profile")
        click.echo("  If the inviting node cannot be reached, any member can admit this one:")
        click.echo(f"    hedgerow admit {id_to_text(home.node_id)}")
    click.echo(f"  {hedgerow} record add          record a practice (it stays private)")


# --- keys ------------------------------------------------------------------------------

@click.group(cls=HelpGroup)
def keys() -> None:
    """The node's identity: its id and its private key."""


@keys.command("show")
@data_dir_option
@json_option
def keys_show(data_dir: Path, as_json: bool) -> None:
    """Print the node id (and its short form) and the network id."""

    async def read() -> dict[str, str]:
        async with open_store(data_dir) as store:
            return {"node_id": store.key.node_id, "short_id": store.key.short_id,
                    "network": id_to_text(store.network, "network"),
                    "key_file": str(key_path(data_dir))}

    info = run(read())
    if as_json:
        echo_json(info)
        return
    click.echo(f"node id:   {info['node_id']}  ({info['short_id']})")
    click.echo(f"network:   {info['network']}")
    click.echo(f"key file:  {info['key_file']}")


@keys.command("export")
@data_dir_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the key to FILE (created with mode 0600) instead of printing it.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def keys_export(data_dir: Path, output: Path | None, yes: bool) -> None:
    """Export the node's private key, in the format of its key file.

    Anyone who has it can sign as this node. Keep it as safe as the node's own
    disk — with the node's backups, but not next to them in the same place.
    To restore a node, put it back as node.key in a new data directory (mode
    0600), then `hedgerow restore BACKUP`.
    """
    key = load_key_file(key_path(data_dir))
    warning = ("this is the node's private key: anyone who has it can sign as this node. "
               "Store it somewhere safe and never send it to anyone.")
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("exporting the private key needs confirmation: add --yes")
        click.confirm(f"Warning: {warning}\nExport it?", abort=True, err=True)
    text = f"{KEY_FILE_HEADER}\n{key.seed.hex()}\n"
    if output is None:
        click.echo(f"warning: {warning}", err=True)
        click.echo(text, nl=False)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UserError(f"{output} already exists; refusing to overwrite it") from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text)
    click.echo(f"wrote the private key of node {key.short_id} to {output} (mode 0600)")
    click.echo(f"warning: {warning}", err=True)


# --- profile ---------------------------------------------------------------------------

@click.group(cls=HelpGroup)
def profile() -> None:
    """What the organisation says about itself in its signed profile."""


def _organisation_json(org: Any) -> dict[str, Any]:
    return {"name": org.name, "level": org.level, "area": org.area,
            "description": org.description, "principles": list(org.principles),
            "addresses": list(org.addresses), "org_id": org.org_id, "contact": org.contact}


@profile.command("show")
@data_dir_option
@json_option
def profile_show(data_dir: Path, as_json: bool) -> None:
    """Show the organisation's details as stored (published or not).

    `announced` lists the addresses the node adds to the profile by itself
    (its public_url, else where it listens; none with `reachable = false`),
    and why those.
    """

    async def read() -> dict[str, Any]:
        async with open_store(data_dir) as store:
            announced = await store.announced()
            return {**_organisation_json(await store.get_organisation()),
                    "announced": list(announced.addresses),
                    "announced_why": announced.why}

    data = run(read())
    if as_json:
        echo_json(data)
        return
    why = data.pop("announced_why") or "worked out when the node runs (`hedgerow up`)"
    for name, value in data.items():
        text = ", ".join(value) if isinstance(value, list) else (value or "")
        click.echo(f"{name + ':':13} {text or '-'}")
    click.echo(f"{'':13} ({why})")


@profile.command("set")
@data_dir_option
@click.option("--name", default=None, help="The organisation's name.")
@click.option("--area", default=None, help="Where it works, e.g. a postcode district.")
@click.option("--level", type=click.Choice(LEVELS), default=None, help="The level it works at.")
@click.option("--description", default=None, help="A short description.")
@click.option("--principle", "principles", multiple=True,
              help="A network principle it holds to (repeat; replaces the list).")
@click.option("--address", "addresses", multiple=True,
              help="An http(s) address where the node is reached (repeat; replaces the list).")
@click.option("--org-id", default=None,
              help="An org-id.guide identifier, e.g. GB-CHC-1234567 (empty to remove).")
@click.option("--contact", default=None,
              help="How other groups can get in touch, if you want them to: an email or "
                   "web address, published with the profile (empty to remove).")
def profile_set(data_dir: Path, name: str | None, area: str | None, level: str | None,
                description: str | None, principles: tuple[str, ...],
                addresses: tuple[str, ...], org_id: str | None, contact: str | None) -> None:
    """Change the organisation's details (publish them with `hedgerow profile publish`)."""
    changes: dict[str, Any] = {k: v for k, v in (
        ("name", name), ("area", area), ("level", level), ("description", description),
        ("org_id", org_id), ("contact", contact)) if v is not None}
    if principles:
        changes["principles"] = list(principles)
    if addresses:
        changes["addresses"] = list(addresses)
    if not changes:
        raise click.UsageError("say what to change, e.g. --name NAME or --level LEVEL")

    async def save() -> None:
        async with open_store(data_dir) as store:
            await store.update_organisation(changes)

    run(save())
    click.echo(f"saved; publish it with: {command_prefix(data_dir)} profile publish")


@profile.command("preview")
@data_dir_option
def profile_preview(data_dir: Path) -> None:
    """Print exactly the profile entry that `profile publish` would sign."""

    async def preview() -> dict[str, Any]:
        async with open_store(data_dir) as store:
            return entry_json(await store.preview_profile())

    echo_json(run(preview()))


@profile.command("publish")
@data_dir_option
@json_option
def profile_publish(data_dir: Path, as_json: bool) -> None:
    """Sign and publish the organisation's profile."""

    async def publish() -> dict[str, Any]:
        async with open_store(data_dir) as store:
            signed = await store.publish_profile()
            entry = await store.current_entry(store.node_id, "profile", "profile")
            assert entry is not None
            return {"entry_id": signed.id.hex(), **entry_json(entry.entry)}

    data = run(publish())
    if as_json:
        echo_json(data)
        return
    click.echo(f"published the profile of {data['body']['name']} "
               f"(version {data['version']})")
