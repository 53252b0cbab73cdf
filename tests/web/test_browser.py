"""The pages in a real browser: Debian's Chromium, driven by Playwright.

Two real nodes (aiohttp servers on 127.0.0.1, real SQLite, gossip running)
live on an event loop in a background thread; Playwright's sync API drives
the browser from the test thread (it cannot run inside an event loop). The
scenarios follow one another like a group's first afternoon: set up node
A, log in (and fail to), record a practice, preview and publish it; on
node B, join A's network by invitation, watch the practice appear in the
directory without reloading, adapt it, credit A, and see the lineage on
both nodes. Screenshots of the main pages go to ``tests/artifacts/`` and
are checked to be non-blank.

Chromium must be installed (``apt-get install chromium``; .ci/run does it):
without it these tests fail, they are not skipped.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PIL import Image

from node.sync import peerbook
from node.web.admin import AdminFile

from .pages import PASSWORD, PagesService, claim, make_data_dir, network_of, open_service

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT_MS = 20_000


class LoopThread:
    """An asyncio event loop in a thread of its own, for the nodes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nodes",
                                       daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Nodes:
    """Node A (set up in the browser) and node B (already claimed)."""

    def __init__(self, loop: LoopThread, a: PagesService, b: PagesService) -> None:
        self.loop, self.a, self.b = loop, a, b


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    root = tmp_path_factory.mktemp("browser")
    loop = LoopThread()
    a_dir = make_data_dir(root, "alder")
    # B joins A's network: made for it with its invitation (`init --join`), or
    # fresh from `init --new-network`, it joins on the Peers page below.
    b_dir = make_data_dir(root, "birch", network=network_of("alder"))
    claim(b_dir)

    async def start() -> tuple[PagesService, PagesService]:
        a, b = await open_service(a_dir), await open_service(b_dir)
        for service in (a, b):
            await service.start(host="127.0.0.1", port=0, gossip=True, mdns=False)
        return a, b

    a, b = loop.run(start())
    try:
        yield Nodes(loop, a, b)
    finally:
        async def stop() -> None:
            for service in (a, b):
                await service.stop()
                await service.store.close()

        loop.run(stop())
        loop.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        pytest.fail("the playwright package is missing: pip install '.[test]'")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: the browser tests need "
                    "Debian's chromium (apt-get install chromium); .ci/run installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def a_page(browser: Browser) -> Iterator[Page]:
    """The browser of the group running node A (one session through the scenarios)."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def b_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def fresh_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    yield context
    context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot and check that it shows something."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000, f"{name}: suspiciously small screenshot"
    with Image.open(path) as image:
        extremes = image.convert("L").getextrema()
        assert extremes[0] != extremes[1], f"{name}: the screenshot is blank"
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is None or len(colours) > 20, f"{name}: hardly anything drawn"
    return path


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("You are logged in.")).to_be_visible()


# --- the scenarios ---------------------------------------------------------------------

def test_first_run_setup(nodes: Nodes, a_page: Page) -> None:
    a = nodes.a
    page = a_page
    page.goto(f"{a.url}/practices")
    expect(page).to_have_url(f"{a.url}/setup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up this node")
    code = AdminFile(a.store.data_dir).read().setup_code  # what `hedgerow setup-code` shows
    assert code is not None
    page.get_by_label("Setup code").fill(code)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_label("Name").fill("Alder Street Tenants")
    page.get_by_label("Area").fill("LS6")
    page.get_by_label("Level").select_option("neighbourhood")
    screenshot(page, "setup")
    page.get_by_role("button", name="Set up the node").click()
    expect(page.get_by_text("Your node is set up and you are logged in.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alder Street Tenants")
    screenshot(page, "home")
    assert AdminFile(a.store.data_dir).read().claimed
    nodes.loop.run(a.store.publish_profile())


def test_login_and_failed_login(nodes: Nodes, fresh_context: BrowserContext) -> None:
    page = fresh_context.new_page()
    page.goto(f"{nodes.a.url}/practices")
    expect(page).to_have_url(f"{nodes.a.url}/login?next=/practices")
    page.get_by_label("Password").fill("not our password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("That password is not right.")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "login-failed")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{nodes.a.url}/practices")
    expect(page.get_by_role("heading", level=1)).to_have_text("Our practices")


def test_logged_out_access_to_private_pages_is_refused(nodes: Nodes,
                                                       fresh_context: BrowserContext) -> None:
    page = fresh_context.new_page()
    for path in ("/", "/practices", "/settings", "/peers", "/network/directory"):
        page.goto(f"{nodes.a.url}{path}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    response = page.request.get(f"{nodes.a.url}/settings/backup", max_redirects=0)
    assert response.status == 303


def test_add_a_practice_preview_and_publish(nodes: Nodes, a_page: Page) -> None:
    page, base = a_page, nodes.a.url
    page.goto(f"{base}/practices")
    page.get_by_role("link", name="Add a practice").first.click()
    page.get_by_label("Title").fill("Repair café")
    page.get_by_label("Description").fill("Volunteers fix what neighbours bring in.")
    page.get_by_label("Themes").fill("repair, reuse")
    page.get_by_label("Context").fill("PRIVATE: the hall key is under the mat")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("It is private until you share it.")).to_be_visible()
    screenshot(page, "practice")
    page.get_by_role("link", name="Share…").click()
    page.get_by_label("Description").check()
    page.get_by_label("Themes").check()
    page.get_by_role("button", name="Save choices and preview").click()
    preview = page.get_by_test_id("preview-body")
    expect(preview).to_contain_text("Volunteers fix what neighbours bring in.")
    expect(preview).to_contain_text("repair")
    expect(preview).not_to_contain_text("hall key")
    screenshot(page, "share")
    page.get_by_role("button", name="Publish this summary").click()
    expect(page.get_by_text("says exactly this")).to_be_visible()
    page.goto(f"{base}/practices")
    screenshot(page, "practices")


def test_add_a_peer_by_invitation_code(nodes: Nodes, a_page: Page, b_page: Page) -> None:
    a, b = nodes.a, nodes.b
    a_page.goto(f"{a.url}/peers")
    a_page.get_by_label("Where other nodes can reach this one").fill(a.url)
    a_page.get_by_role("button", name="Create an invitation").click()
    code = a_page.get_by_test_id("invitation").input_value()
    assert code.startswith("HR2-")
    # A also knows B by address, so that A's publications are pushed to B at once.
    a_page.get_by_label("Address or invitation code").fill(b.url)
    a_page.get_by_role("button", name="Add the peer").click()
    # (Its first sync with B may fail, saying so in the row: B is not a
    # member until it joins below.)
    expect(a_page.get_by_role("cell", name=b.url, exact=True)).to_be_visible()
    log_in(b_page, b.url)
    b_page.goto(f"{b.url}/peers")
    b_page.get_by_label("Address or invitation code").fill(code)
    b_page.get_by_role("button", name="Add the peer").click()
    expect(b_page.get_by_text("a first sync has started")).to_be_visible()
    expect(b_page.get_by_role("cell", name=a.url, exact=True)).to_be_visible()
    rows = nodes.loop.run(b.store.db.read(peerbook.list_peers))
    assert [(r.address, r.source, r.node_id) for r in rows] == [
        (a.url, "invitation", a.store.node_id)]
    screenshot(a_page, "peers")


def test_a_new_practice_appears_on_the_other_node_without_a_reload(
        nodes: Nodes, a_page: Page, b_page: Page) -> None:
    a, b = nodes.a, nodes.b
    b_page.goto(f"{b.url}/network/directory")
    expect(b_page.locator("#directory-results")).to_contain_text("Repair café",
                                                                 timeout=WAIT_MS)
    b_page.evaluate("window.notReloaded = true")
    # A publishes a second practice through its pages; B's list shows it by itself.
    a_page.goto(f"{a.url}/practices/new")
    a_page.get_by_label("Title").fill("Seed swap")
    a_page.get_by_role("button", name="Save").click()
    a_page.get_by_role("link", name="Share…").click()
    a_page.get_by_role("button", name="Publish this summary").click()
    expect(b_page.locator("#directory-results")).to_contain_text("Seed swap",
                                                                 timeout=WAIT_MS)
    assert b_page.evaluate("window.notReloaded") is True
    expect(b_page.locator("#live-status")).to_contain_text("new entries arrived")
    screenshot(b_page, "directory")


def test_adapt_credit_and_see_the_lineage_on_both(nodes: Nodes, a_page: Page,
                                                  b_page: Page) -> None:
    a, b = nodes.a, nodes.b
    b_page.goto(f"{b.url}/network/directory?q=repair")
    b_page.get_by_role("link", name="Repair café").click()
    expect(b_page.get_by_role("heading", name="Adapt this practice")).to_be_visible()
    b_page.get_by_label("Title of your new practice").fill("Birch Lane repair evenings")
    b_page.get_by_role("button", name="Record the adaptation").click()
    expect(b_page.get_by_text("Recorded where your practice came from")).to_be_visible()
    b_page.get_by_role("link", name="Share…").click()
    expect(b_page.get_by_label("Adapted from (credit to the practices yours came from)")
           ).to_be_checked()
    b_page.get_by_role("button", name="Publish this summary").click()
    expect(b_page.get_by_text("says exactly this")).to_be_visible()
    # The credit: a signed thank-you to A.
    b_page.goto(f"{b.url}/network/directory?q=repair")
    b_page.get_by_role("link", name="Repair café").click()
    b_page.get_by_label("A note with your credit").fill("Thank you for the toolkit!")
    b_page.get_by_role("button", name="Publish the credit").click()
    expect(b_page.get_by_text("Thank you published")).to_be_visible()
    tree = b_page.locator(".tree-list")
    expect(tree).to_contain_text("Birch Lane repair evenings")
    expect(b_page.locator("svg.tree")).to_contain_text("Birch Lane repair")
    screenshot(b_page, "lineage-on-b")
    # On A, once B's entries have arrived: the same lineage, and the credit received.
    url = b_page.url.replace(b.url, a.url)

    def lineage_on_a() -> bool:
        a_page.goto(url)
        return "Thank you for the toolkit!" in a_page.content()

    for _ in range(WAIT_MS // 500):
        if lineage_on_a():
            break
        a_page.wait_for_timeout(500)
    expect(a_page.locator(".tree-list")).to_contain_text("Birch Lane repair evenings")
    expect(a_page.get_by_text("Thank you for the toolkit!")).to_be_visible()
    screenshot(a_page, "lineage-on-a")
    a_page.goto(f"{a.url}/network/lineage")
    expect(a_page.locator("main")).to_contain_text("Birch Lane repair evenings")


def _until(page: Page, url: str, text: str) -> None:
    """Reload ``url`` until the page shows ``text`` (entries arrive by sync), then go on."""
    for _ in range(WAIT_MS // 250):
        page.goto(url)
        if text in page.content():
            return
        page.wait_for_timeout(250)
    expect(page.locator("main")).to_contain_text(text)


def test_others_on_the_same_journey_with_a_contact(nodes: Nodes, a_page: Page,
                                                   b_page: Page) -> None:
    a, b = nodes.a, nodes.b
    # B says how to get in touch, and publishes its profile (the form previews it first).
    b_page.goto(f"{b.url}/settings")
    b_page.get_by_label("Name").fill("Birch Lane Tenants")
    b_page.get_by_label("Level", exact=True).select_option("neighbourhood")
    b_page.get_by_label("Contact for other groups").fill("hello@birchlane.example.org")
    b_page.get_by_role("button", name="Save the profile").click()
    expect(b_page.get_by_test_id("profile-preview")).to_contain_text(
        '"contact": "hello@birchlane.example.org"')
    b_page.get_by_role("button", name="Publish the profile").click()
    expect(b_page.get_by_text("Published the profile.")).to_be_visible()
    # B runs a tool library on the same themes as A's repair café.
    b_page.goto(f"{b.url}/practices/new")
    b_page.get_by_label("Title").fill("Birch tool library")
    b_page.get_by_label("Themes").fill("repair, reuse")
    b_page.get_by_role("button", name="Save").click()
    b_page.get_by_role("link", name="Share…").click()
    b_page.get_by_label("Themes").check()
    b_page.get_by_role("button", name="Save choices and preview").click()
    b_page.get_by_role("button", name="Publish this summary").click()
    expect(b_page.get_by_text("says exactly this")).to_be_visible()
    # On A's own repair café: B's library is on the same journey, and why, and how to reach B.
    practice = f"{a.url}/network/practice?node={a.store.key.node_id}&key=repair-cafe"
    _until(a_page, practice, "Birch tool library")
    section = a_page.locator("section", has=a_page.get_by_role(
        "heading", name="Others on the same journey"))
    expect(section).to_contain_text("Why: 2 shared themes: repair, reuse")
    _until(a_page, practice, "hello@birchlane.example.org")
    contact = section.get_by_role("link", name="Get in touch with Birch Lane Tenants "
                                               "(hello@birchlane.example.org)")
    expect(contact.first).to_have_attribute("href", "mailto:hello@birchlane.example.org")
    expect(section).to_contain_text("already linked")  # B adapted and credited A's café
    screenshot(a_page, "practice-similar")


def test_where_our_ideas_travelled_on_the_home_page(nodes: Nodes, a_page: Page) -> None:
    base = nodes.a.url
    # B's adaptation and credit arrived (and its profile: the test before waited for it).
    a_page.goto(f"{base}/")
    section = a_page.locator("section.travelled")
    expect(section).to_contain_text("Birch Lane Tenants")
    expect(section.get_by_role("heading", name="Where our ideas travelled")).to_be_visible()
    expect(section).to_contain_text("Birch lane repair evenings", ignore_case=True)
    expect(section).to_contain_text("Thank you for the toolkit!")
    expect(section.locator("li.new")).to_have_count(1)
    expect(section.locator(".tag-new")).to_have_text("new")
    screenshot(a_page, "home-travelled")
    a_page.reload()  # seen once: no longer new
    expect(section.locator("li.new")).to_have_count(0)
    expect(section).to_contain_text("Thank you for the toolkit!")


def test_introductions_a_convenor_can_make(nodes: Nodes, a_page: Page) -> None:
    from protocol import Entry, NodeKey, sign_entry

    a = nodes.a
    # A third group, on repair too, that nobody has credited or adapted from.
    cedar = NodeKey.from_seed(b"cedar road menders".ljust(32, b"."))
    network = network_of("alder")  # A founded it: A admits the menders, then holds their entries
    nodes.loop.run(a.store.admit(cedar.public))
    entries = [sign_entry(cedar, Entry(network, cedar.public, kind, key, 1_700_000_500_000 + i,
                                       body)) for i, (kind, key, body) in enumerate((
        ("profile", "profile", {"name": "Cedar Road Menders", "level": "neighbourhood",
                                "contact": "https://menders.cedar.example"}),
        ("practice", "mending-mornings", {"title": "Mending mornings", "status": "active",
                                          "themes": ["repair"]})))]
    outcomes = nodes.loop.run(a.store.ingest(entries))
    assert all(o.stored for o in outcomes), outcomes
    page = a_page
    page.goto(f"{a.url}/network")
    page.get_by_role("navigation", name="Network views").get_by_role(
        "link", name="Introductions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Introductions to make")
    repair = page.locator("section.introductions", has=page.get_by_role(
        "heading", name="repair (3 groups)"))
    expect(repair).to_contain_text("Cedar Road Menders")
    expect(repair).to_contain_text("Why: both work on repair")
    expect(repair.get_by_role("link", name="Get in touch with Cedar Road Menders "
                                           "(https://menders.cedar.example)").first
           ).to_have_attribute("href", "https://menders.cedar.example")
    # A and B are linked by B's adaptation and credit: never introduced to each other.
    reuse = page.locator("section.introductions", has=page.get_by_role(
        "heading", name="reuse (2 groups)"))
    expect(reuse).to_contain_text("Its groups are connected already")
    screenshot(page, "introductions")
    page.get_by_label("Theme").fill("repair")
    page.get_by_role("button", name="Show introductions").click()
    expect(page).to_have_url(re.compile(r"/network/introductions\?theme=repair"))
    expect(page.locator("section.introductions")).to_have_count(1)


def test_a_form_without_a_csrf_token_is_refused(nodes: Nodes, a_page: Page) -> None:
    page = a_page
    page.goto(f"{nodes.a.url}/practices")
    before = nodes.loop.run(nodes.a.store.list_practices())
    page.evaluate("""() => {
        const form = document.createElement("form");
        form.method = "post";
        form.action = "/practices/new";
        form.innerHTML = '<input name="title" value="Forged practice">';
        document.body.appendChild(form);
        form.submit();
    }""")
    expect(page.get_by_role("heading", level=1)).to_have_text("This form cannot be accepted")
    assert nodes.loop.run(nodes.a.store.list_practices()) == before


def test_screenshots_of_the_other_main_pages(nodes: Nodes, a_page: Page,
                                             fresh_context: BrowserContext) -> None:
    base = nodes.a.url
    for path, name in (("/network", "network"), ("/network/health", "health"),
                       ("/settings", "settings"), ("/network/spread", "spread")):
        a_page.goto(f"{base}{path}")
        expect(a_page.get_by_role("heading", level=1)).to_be_visible()
        screenshot(a_page, name)
    # The same pages fit a phone's screen.
    phone = fresh_context.new_page()
    log_in(phone, base)
    phone.goto(f"{base}/network")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, "the network page scrolls sideways on a phone"
    screenshot(phone, "network-phone")
    # Keyboard: the first Tab reaches the skip link, which leads to the content.
    phone.keyboard.press("Tab")
    expect(phone.locator(":focus")).to_have_text("Skip to the main content")
