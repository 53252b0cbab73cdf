"""The addresses this node announces in its profile, worked out when it starts listening.

DESIGN.md "Discovery and topology": a node announces its own reachable
addresses automatically, or none when nobody can reach it, so that members
reach it without anyone typing an address. The rules are
:func:`protocol.addresses.announcement`; this module feeds them what the
running node knows (where it listens, this machine's interface addresses,
the settings), remembers the result in the database for the CLI (``hedgerow
invite``, ``hedgerow profile show``), and publishes the profile again when
what it would announce has changed since it was published.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from protocol import HedgerowError
from protocol.addresses import (
    WILDCARD_HOSTS,
    Announcement,
    announcement,
    invitation_reach,
    url_for,
)

from ..settings import CONFIG_FILE_NAME, Config
from ..store.store import Store
from .dialling import interface_ips

__all__ = ["InvitationAddress", "announce", "invitation_address"]

log = logging.getLogger(__name__)


async def announce(store: Store, config: Config, listening: Sequence[tuple[str, int]]
                   ) -> Announcement:
    """Work out and remember what to announce; republish the profile if it changed.

    ``listening``: the (host, port) pairs the node listens on (empty: it
    does not listen, and announces only a public_url).
    """
    if listening:
        host, port = listening[0]
        result = announcement(public_url=config.public_url, reachable=config.reachable,
                              host=host, port=port, interface_ips=interface_ips())
    elif config.public_url and config.reachable:
        result = Announcement((config.public_url.rstrip("/"),), "the public_url setting")
    else:
        result = Announcement((), "this node does not listen: it syncs by calling its peers")
    await store.set_announced(result.addresses, result.why,
                              [url_for(h, p) for h, p in listening])
    try:
        republished = await store.republish_profile_if_changed()
    except HedgerowError as exc:  # a full disk, say: the node runs on, and says so
        log.warning("could not publish the profile with this node's addresses: %s",
                    exc.message)
        return result
    if republished is not None:
        log.info("published the profile again: it announces %s",
                 ", ".join(result.addresses) or "no address")
    return result


@dataclass(frozen=True, slots=True)
class InvitationAddress:
    """The address for an invitation, where it came from, and a warning if some cannot use it."""

    address: str
    source: str
    warning: str = ""


async def invitation_address(store: Store, config: Config, *, running: bool,
                             given: str | None = None) -> InvitationAddress:
    """Where an invitee reaches this node: ``given``, else public_url, else where it listens.

    ``running``: whether the node runs now (its listening address, stored
    when it started, is then current); if not, the address it will listen
    on with the host and port settings.
    """
    if given:
        chosen = InvitationAddress(given.rstrip("/"), "given")
    elif config.public_url:
        return InvitationAddress(config.public_url.rstrip("/"), "the public_url setting")
    else:
        announced = await store.announced()
        if running and announced.listening:
            listening = announced.listening[0]
            host, _, port = listening.split("://", 1)[1].rpartition(":")
            source = "where the running node listens"
        else:
            host, port = config.host, str(config.port)
            source = "where the node will listen (the host and port settings)"
        if running and announced.addresses:
            address = announced.addresses[0]
        elif host.strip("[]") in WILDCARD_HOSTS:
            found = announcement(public_url="", reachable=True, host="0.0.0.0",
                                 port=int(port), interface_ips=interface_ips()).addresses
            address = found[0] if found else url_for("127.0.0.1", int(port))
        else:
            address = url_for(host.strip("[]"), int(port))
        chosen = InvitationAddress(address, source)
    reach = invitation_reach(chosen.address)
    if reach is None:
        return chosen
    settings = Path(store.data_dir) / CONFIG_FILE_NAME
    return InvitationAddress(
        chosen.address, chosen.source,
        f"{chosen.address}: {reach}. A group elsewhere cannot join with this code: set "
        f'public_url = "https://…" (an address the internet reaches this node at) in '
        f"{settings} and restart the node, or pass --address URL")
