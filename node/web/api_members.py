"""The JSON API for membership: invitations, admissions and leaving (DESIGN.md "Membership").

Each handler does what the ``hedgerow`` command named in its declaration
does, through the same store functions as the CLI and the pages. The
members themselves are the ``members`` view (``/api/v1/views/members``).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from protocol import format_invitation, id_from_text, id_to_text

from ..errors import InvalidInput
from ..store.membership import DEFAULT_INVITATION_DAYS, MAX_INVITATION_USES
from ..sync.announce import invitation_address
from .api_ops import body_of, operation, reply, service_of, signed_json, text_field

__all__: list[str] = []

_TEXT: Final = {"type": "string"}


def _number(data: dict[str, Any], name: str, default: float, *, maximum: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not 0 < value <= maximum:
        raise InvalidInput(f"{name}: a number from 1 to {maximum:g}", field=name)
    return float(value)


@operation("POST", "/invitations", summary="Make an invitation code (shown once: it holds "
           "a secret) for a new node to join the network.", tag="membership",
           cli=("invite",), status=201,
           body={"type": "object", "properties": {
               "address": _TEXT, "uses": {"type": "integer"}, "days": {"type": "number"},
               "note": _TEXT}})
async def _invite(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    data = await body_of(request)
    # Default: the public_url setting, else where this node listens (as `hedgerow invite`).
    where = await invitation_address(service.store, service.config, running=True,
                                     given=text_field(data, "address", max_len=200) or None)
    address = where.address
    uses = int(_number(data, "uses", 1, maximum=MAX_INVITATION_USES))
    days = _number(data, "days", DEFAULT_INVITATION_DAYS, maximum=365)
    invitation = await service.store.create_invitation(
        address.rstrip("/"), uses=uses, days=days, note=text_field(data, "note", max_len=200))
    return reply({"invitation": format_invitation(invitation), "id": invitation.id.hex(),
                  "address": invitation.address, "address_from": where.source,
                  "warning": where.warning, "uses": uses,
                  "expires_ms": invitation.expires_s * 1000}, 201)


@operation("GET", "/invitations", summary="The invitations made here: open, used, expired "
           "or withdrawn, and who joined with each.", tag="membership",
           cli=("invite list",))
async def _invitations(request: web.Request) -> web.StreamResponse:
    store = service_of(request).store
    now = store.now_ms()
    return reply({"invitations": [
        {"id": r.id.hex(), "status": r.status(now), "address": r.address, "note": r.note,
         "created_ms": r.created_ms, "expires_ms": r.expires_ms, "uses": r.uses,
         "uses_allowed": r.uses_allowed, "joined": [id_to_text(n) for n in r.joined]}
        for r in await store.invitations()]})


@operation("POST", "/invitations/withdraw", summary="Stop an invitation from working.",
           tag="membership", cli=("invite withdraw",),
           body={"type": "object", "required": ["id"], "properties": {"id": _TEXT}})
async def _withdraw_invitation(request: web.Request) -> web.StreamResponse:
    data = await body_of(request)
    withdrawn = await service_of(request).store.withdraw_invitation(
        text_field(data, "id", required=True, max_len=40))
    return reply({"withdrawn": withdrawn.hex()})


@operation("POST", "/admissions", summary="Admit a node (by its full id) to the network.",
           tag="membership", cli=("admit",), status=201,
           body={"type": "object", "required": ["node"],
                 "properties": {"node": _TEXT, "note": _TEXT}})
async def _admit(request: web.Request) -> web.StreamResponse:
    data = await body_of(request)
    node = id_from_text(text_field(data, "node", required=True, max_len=200))
    signed = await service_of(request).store.admit(node, note=text_field(data, "note",
                                                                         max_len=200))
    return reply({"admitted": id_to_text(node), "entry": signed_json(signed)}, 201)


@operation("GET", "/admissions/{node}/withdrawal", summary="Preview withdrawing this node's "
           "admission of a node: whose membership would end.", tag="membership",
           cli=("admit",))
async def _withdrawal_preview(request: web.Request) -> web.StreamResponse:
    node = id_from_text(request.match_info["node"][:200])
    ending = await service_of(request).store.withdrawal_preview(node)
    return reply({"node": id_to_text(node),
                  "membership_ends": [id_to_text(n) for n in sorted(ending)]})


@operation("POST", "/admissions/{node}/withdrawal", summary="Withdraw this node's admission "
           "of a node (preview it first).", tag="membership", cli=("admit",),
           body={"type": "object", "properties": {"reason": _TEXT}})
async def _withdraw_admission(request: web.Request) -> web.StreamResponse:
    node = id_from_text(request.match_info["node"][:200])
    data = await body_of(request)
    store = service_of(request).store
    ending = await store.withdrawal_preview(node)
    signed = await store.withdraw_admission(node, reason=text_field(data, "reason",
                                                                    max_len=500))
    return reply({"withdrawn": id_to_text(node), "entry": signed_json(signed),
                  "membership_ends": [id_to_text(n) for n in sorted(ending)]})


@operation("GET", "/leave", summary="Preview leaving the network: every entry it would "
           "withdraw.", tag="membership", cli=("leave",))
async def _leave_preview(request: web.Request) -> web.StreamResponse:
    items = await service_of(request).store.leave_preview()
    return reply({"withdraws": [{"kind": kind, "key": key} for kind, key in items]})


@operation("POST", "/leave", summary="Leave the network: withdraw this node's profile, "
           "practices and credits (its admissions of others stay valid).",
           tag="membership", cli=("leave",),
           body={"type": "object", "properties": {"reason": _TEXT}})
async def _leave(request: web.Request) -> web.StreamResponse:
    data = await body_of(request)
    done = await service_of(request).store.leave(reason=text_field(data, "reason",
                                                                    max_len=500))
    return reply({"withdrawn": [signed_json(s) for s in done]})
