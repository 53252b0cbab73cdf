"""The JSON API does what the CLI does: records, sharing, publishing, credits, peers, backups,
settings, tokens, health, exports — authenticated by the admin login or scoped API tokens."""

from __future__ import annotations

import json
import re
import sqlite3
from html import unescape
from typing import Any

from aiohttp.test_utils import TestClient

from node.web.admin import AdminFile
from protocol import NodeKey

from .pages import PageClient, PagesService

API = "/api/v1"


async def _token(pages: PageClient, scope: str) -> str:
    response = await pages.client.post(f"{API}/tokens", json={"name": f"a {scope} tool",
                                                               "scope": scope})
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["scope"] == scope and body["token"].startswith("hrt_")
    return str(body["token"])


class Api:
    def __init__(self, client: TestClient[Any, Any], token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None, *, status: int = 200,
                   **kwargs: Any) -> Any:
        response = await self.client.request(method, f"{API}{path}", json=body,
                                             headers=self.headers, **kwargs)
        raw = await response.read()
        assert response.status == status, (method, path, response.status, raw[:500])
        if response.content_type == "application/json":
            return json.loads(raw)
        return raw


async def test_a_group_works_through_the_api(service: PagesService, pages: PageClient) -> None:
    api = Api(pages.client, await _token(pages, "write"))
    store = service.store
    status = await api.call("GET", "/status")
    assert status["node_id"] == store.key.node_id and "backups" in status
    assert (await api.call("GET", "/keys"))["node_id"] == store.key.node_id

    record = await api.call("POST", "/records", {
        "title": "Repair café", "themes": ["repair"], "context": "private context",
        "lessons": ["Test every kettle."]}, status=201)
    assert record["key"] == "repair-cafe" and record["lessons"][0]["text"] == "Test every kettle."
    assert (await api.call("GET", "/records"))[0]["summary"] == "private"
    await api.call("PATCH", "/records/repair-cafe", {"description": "We fix things."})
    measure = await api.call("POST", "/records/repair-cafe/measures",
                             {"name": "items repaired", "unit": "items"}, status=201)
    await api.call("POST", f"/measures/{measure['id']}/observations",
                   {"value": 42, "observed_on": "2025-06-14"}, status=201)
    policy = await api.call("PUT", "/records/repair-cafe/share-policy", {
        "fields": ["description", "themes"], "lessons": [record["lessons"][0]["id"]],
        "measures": [{"id": measure["id"], "aggregate": "sum", "period": "2025"}]})
    assert "description" in policy["fields"] and policy["measures"][0]["period"] == "2025"
    assert (await api.call("GET", "/records/repair-cafe/share-policy")) == policy
    preview = await api.call("GET", "/records/repair-cafe/preview")
    assert preview["body"]["description"] == "We fix things."
    assert "private context" not in json.dumps(preview)
    published = await api.call("POST", "/records/repair-cafe/publish")
    assert published["kind"] == "practice" and published["body"]["title"] == "Repair café"
    assert (await api.call("GET", "/records"))[0]["summary"] == "published"
    shown = await api.call("GET", "/records/repair-cafe")
    assert shown["context"] == "private context"  # the admin's own API sees private fields

    await api.call("PATCH", "/profile", {"name": "Headingley Repair Café", "level": "local",
                                         "contact": "hello@repair.example.org"})
    assert (await api.call("GET", "/profile"))["name"] == "Headingley Repair Café"
    assert (await api.call("GET", "/profile/preview"))["body"]["contact"] == \
        "hello@repair.example.org"
    await api.call("PATCH", "/profile", {"contact": "ring us"}, status=400)
    assert (await api.call("GET", "/profile/preview"))["kind"] == "profile"
    assert (await api.call("POST", "/profile/publish"))["body"]["name"] == \
        "Headingley Repair Café"
    from protocol import NodeKey, id_to_text

    other = id_to_text(NodeKey.from_seed(bytes(32)).public)
    response = await pages.client.post(f"{API}/credits", json={
        "node": other, "practice": "play-street", "note": "Thank you"}, headers=api.headers)
    credit = await response.json()
    if response.status == 201:
        assert credit["kind"] == "credit" and credit["body"]["practice"] == "play-street"
    else:  # a node may refuse a practice it has not seen yet: it says so
        assert response.status in (400, 409) and credit["error"]
    await api.call("POST", "/credits", {"node": "nonsense", "practice": "x"}, status=400)
    retracted = await api.call("POST", "/records/repair-cafe/retract", {"reason": "paused"})
    assert retracted["kind"] == "retract"

    # Peers: add, list, block, unblock, remove (sync: tests/cli/test_api_process.py).
    added = await api.call("POST", "/peers", {"address": "127.0.0.1:9"}, status=201)
    assert added["peer"]["address"] == "http://127.0.0.1:9"
    assert [p["address"] for p in (await api.call("GET", "/peers"))["peers"]] == [
        "http://127.0.0.1:9"]
    await api.call("DELETE", "/peers", params={"address": "http://127.0.0.1:9"})
    await api.call("DELETE", "/peers", params={"address": "http://127.0.0.1:9"}, status=404)
    await api.call("POST", "/blocked", {"node": other, "note": "spam"}, status=201)
    assert (await api.call("GET", "/peers"))["blocked"] == [other]
    await api.call("DELETE", f"/blocked/{other}")
    await api.call("DELETE", f"/blocked/{other}", status=404)

    # Backups: take one, list it, test it, download one, restore it.
    taken = await api.call("POST", "/backups", status=201)
    listing = await api.call("GET", "/backups")
    assert [b["name"] for b in listing["backups"]] == [taken["name"]]
    tested = await api.call("POST", f"/backups/{taken['name']}/test")
    assert tested["this_node"] is True and tested["practices"] == 1
    await api.call("POST", "/backups/nothing.db/test", status=404)
    data = await api.call("GET", "/backup")
    assert data[:16] == b"SQLite format 3\x00"
    await api.call("DELETE", "/records/repair-cafe")
    response = await pages.client.post(f"{API}/restore", data=data, headers={
        **api.headers, "Content-Type": "application/octet-stream"})
    assert response.status == 200, await response.text()
    assert [r["key"] for r in await api.call("GET", "/records")] == ["repair-cafe"]
    assert (await api.call("GET", "/status"))["needs_catch_up"] is True
    assert (await api.call("POST", "/records/repair-cafe/publish", status=409))["code"] == \
        "needs_catch_up"
    assert (await api.call("POST", "/caught-up"))["was_needed"] is True
    await api.call("POST", "/records/repair-cafe/publish")

    # Settings: saved to hedgerow.toml, used at the next start.
    changed = await api.call("PATCH", "/settings", {"port": 9471, "mdns": False})
    by_name = {s["name"]: s for s in changed["settings"]}
    assert by_name["port"]["value"] == 9471 and changed["restart_needed"] is True
    assert "port = 9471" in (store.data_dir / "hedgerow.toml").read_text()
    bad = await api.call("PATCH", "/settings", {"port": "lots"}, status=400)
    assert "port" in bad["error"]
    await api.call("PATCH", "/settings", {"no_such": 1}, status=400)

    # Health, exports, verification.
    assert {f["check"] for f in (await api.call("GET", "/doctor"))["findings"]} >= {"database"}
    csv = await api.call("GET", "/export", params={"format": "csv"})
    assert b"Repair" in csv
    evidence = await api.call("GET", "/export", params={"format": "json", "evidence": "true"})
    verified = await api.call("POST", "/verify", evidence)
    assert verified["ok"] is True
    assert (await api.call("POST", "/verify", {"format": "nonsense"}))["ok"] is False


async def test_tokens_are_scoped_and_revocable(service: PagesService,
                                               pages: PageClient) -> None:
    reader = Api(pages.client, await _token(pages, "read"))
    await reader.call("GET", "/status")
    refused = await reader.call("POST", "/records", {"title": "x"}, status=403)
    assert "only read" in refused["error"]
    writer_token = await _token(pages, "write")
    writer = Api(pages.client, writer_token)
    await writer.call("POST", "/records", {"title": "Play street"}, status=201)
    # Tokens cannot manage tokens; the admin's login can.
    await writer.call("GET", "/tokens", status=403)
    listed = await (await pages.client.get(f"{API}/tokens")).json()
    assert {t["scope"] for t in listed} == {"read", "write"}
    assert all("token" not in t and "sha256" not in t for t in listed)
    token_id = writer_token.split("_")[1]
    response = await pages.client.delete(f"{API}/tokens/{token_id}")
    assert response.status == 200
    await writer.call("GET", "/status", status=401)
    assert token_id not in [t.id for t in AdminFile(service.store.data_dir).read().api_tokens]
    bogus = Api(pages.client, "hrt_deadbeef_nope")
    await bogus.call("GET", "/status", status=401)


async def test_the_login_session_needs_json_for_changes(pages: PageClient) -> None:
    form = await pages.client.post(f"{API}/records", data={"title": "x"})
    assert form.status == 415
    as_json = await pages.client.post(f"{API}/records", json={"title": "Community fridge"})
    assert as_json.status == 201


async def test_without_login_or_token_the_api_refuses(service: PagesService,
                                                      anonymous: PageClient) -> None:
    for method, path in (("GET", "/status"), ("POST", "/records"), ("GET", "/tokens")):
        response = await anonymous.client.request(method, f"{API}{path}", json={})
        assert response.status == 401, (method, path)
    AdminFile(service.store.data_dir).set_public_pages(frozenset({"api"}))
    # The public "api" page group opens the network views, not the node's own work.
    assert (await anonymous.client.get(f"{API}/views/health")).status == 200
    assert (await anonymous.client.get(f"{API}/status")).status == 401
    assert (await anonymous.client.post(f"{API}/records", json={"title": "x"})).status == 401


async def test_the_database_holds_no_token(service: PagesService, pages: PageClient) -> None:
    token = await _token(pages, "write")
    secret = token.rsplit("_", 1)[1]
    assert secret not in (service.store.data_dir / "admin.json").read_text()
    conn = sqlite3.connect(service.store.data_dir / "hedgerow.db")
    try:
        assert not any(secret in line for line in conn.iterdump())
    finally:
        conn.close()


async def test_tokens_are_made_and_revoked_on_the_settings_page(
        service: PagesService, pages: PageClient) -> None:
    html = await pages.get("/settings")
    assert "API tokens" in html and "No tokens yet" in html
    html = await pages.post("/settings/tokens", {"token_name": "our website",
                                                 "token_scope": "read"})
    found = re.search(r'<code class="token">(hrt_[^<]+)</code>', html)
    assert found and "shown this once" in html
    token = unescape(found.group(1))
    api = Api(pages.client, token)
    await api.call("GET", "/status")
    await api.call("POST", "/records", {"title": "x"}, status=403)
    html = await pages.get("/settings")
    assert "our website" in html and token not in html  # never shown again
    token_id = token.split("_")[1]
    await pages.post(f"/settings/tokens/{token_id}/revoke", {})
    await api.call("GET", "/status", status=401)
    bad = await pages.post("/settings/tokens", {"token_name": "", "token_scope": "read"},
                           status=400)
    assert "give the token a name" in bad


async def test_membership_through_the_api(service: PagesService, pages: PageClient) -> None:
    """Invitations, admissions (with the withdrawal preview), leaving and the members view:
    what `hedgerow invite|admit|leave` and `view members` do."""
    from protocol import NodeKey, id_to_text, parse_invitation

    api = Api(pages.client, await _token(pages, "write"))
    made = await api.call("POST", "/invitations", {"address": "http://192.0.2.7:8470",
                                                   "uses": 2, "days": 3, "note": "Splott"},
                          status=201)
    invitation = parse_invitation(made["invitation"])
    assert invitation.address == "http://192.0.2.7:8470" and made["id"] == invitation.id.hex()
    listed = (await api.call("GET", "/invitations"))["invitations"]
    assert [(i["id"], i["status"], i["uses_allowed"], i["note"]) for i in listed] == [
        (made["id"], "open", 2, "Splott")]
    await api.call("POST", "/invitations/withdraw", {"id": made["id"][:6]})
    assert (await api.call("GET", "/invitations"))["invitations"][0]["status"] == "withdrawn"
    await api.call("POST", "/invitations", {"uses": 0}, status=400)

    first, second = (NodeKey.from_seed(bytes([n]) * 32) for n in (1, 2))
    admitted = await api.call("POST", "/admissions", {"node": first.node_id}, status=201)
    assert admitted["entry"]["kind"] == "admit"
    # The first admits the second: withdrawing ours of the first ends both memberships.
    await service.store.ingest([_admission(service, first, second)])
    preview = await api.call("GET", f"/admissions/{first.node_id}/withdrawal")
    assert preview["membership_ends"] == sorted([first.node_id, second.node_id])
    members = await api.call("GET", "/views/members")
    assert {m["node"] for m in members["members"]} == {
        service.store.key.node_id, first.node_id, second.node_id}
    done = await api.call("POST", f"/admissions/{first.node_id}/withdrawal",
                          {"reason": "moved away"})
    assert done["entry"]["kind"] == "retract"
    assert (await api.call("GET", "/views/members"))["count"] == 1
    await api.call("POST", "/admissions", {"node": service.store.key.node_id}, status=400)

    await service.store.update_organisation({"name": "Alder St", "level": "local"})
    await service.store.publish_profile()
    assert (await api.call("GET", "/leave"))["withdraws"] == [
        {"kind": "profile", "key": "profile"}]
    left = await api.call("POST", "/leave", {"reason": "closing down"})
    assert [e["kind"] for e in left["withdrawn"]] == ["retract"]
    assert (await api.call("GET", "/leave"))["withdraws"] == []
    assert id_to_text(service.store.node_id) == service.store.key.node_id


def _admission(service: PagesService, admitter: NodeKey, node: NodeKey) -> Any:
    from protocol import Entry, admit_key, sign_entry

    return sign_entry(admitter, Entry(service.store.network, admitter.public, "admit",
                                      admit_key(node.public), service.store.now_ms(),
                                      {"node": node.public}))
