"""The dashboard in a real headless Chromium, against uvicorn serving a real store.

The page must load, list a site, and its counts chart must update when new aggregates are stored
while it is open. The screenshot lands in tmp_path (or $SIMPANG_SCREENSHOT_DIR, to look at it).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from central.app import create_app
from central.auth import hash_token, new_token
from central.settings import Settings
from central.store import Store
from tests.central.factories import aggregate, health

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]


@pytest.fixture
def served(sqlite_store: Store) -> Iterator[str]:
    """uvicorn serving the app on a random loopback port, in a thread."""
    app = create_app(Settings(), sqlite_store)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _minute(now: float, back: int) -> float:
    return (now // 60 - back) * 60


def test_dashboard_shows_site_and_chart_updates(served: str, sqlite_store: Store, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)", pytrace=False)
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - heavy, only this test needs it

    token = new_token()
    sqlite_store.add_token("wall", "viewer", hash_token(token))
    now = time.time()
    sqlite_store.ingest(
        [aggregate("jl-sudirman", i, _minute(now, 40 - i), cars=8 + i % 5, motorcycles=25 + i % 7, queue=1.0 + i % 6)
         for i in range(30)]
    )
    sqlite_store.ingest([health("jl-sudirman", 100, now, phase=[2, 6])])
    sqlite_store.ingest([aggregate("jl-thamrin", 1, _minute(now, 3))])

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
            page.goto(f"{served}/dashboard/?refresh=300&site=jl-sudirman#token={token}")
            page.wait_for_selector("#site-list li[data-site='jl-sudirman']", timeout=15_000)
            page.wait_for_function("Number(document.getElementById('counts-chart').dataset.total) > 0", timeout=15_000)
            assert page.inner_text("#site-title") == "jl-sudirman"
            assert page.inner_text("#phase") == "Φ2 + Φ6"
            assert page.locator("#queues .row").count() == 2
            before = int(page.get_attribute("#counts-chart", "data-total") or 0)
            assert before == sum(8 + i % 5 + 25 + i % 7 for i in range(30))
            assert page.locator("#counts-chart rect").count() > 0
            assert page.locator("#queue-chart path[data-approach='north']").count() == 1

            # New aggregates arrive while the page is open: the chart must pick them up.
            sqlite_store.ingest([aggregate("jl-sudirman", 30 + k, _minute(now, 9 - k), cars=50) for k in range(8)])
            page.wait_for_function(
                f"Number(document.getElementById('counts-chart').dataset.total) > {before}", timeout=15_000
            )
            after = int(page.get_attribute("#counts-chart", "data-total") or 0)
            assert after == before + 8 * (50 + 30)

            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("SIMPANG_SCREENSHOT_DIR"):
                shutil.copy(shot, Path(os.environ["SIMPANG_SCREENSHOT_DIR"]) / shot.name)
            assert errors == []
        finally:
            browser.close()


def test_dashboard_asks_for_a_token(served: str) -> None:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{served}/")
            page.wait_for_selector("#login:not([hidden])", timeout=15_000)
            page.fill("#token-input", "spg_wrong")
            page.click("#login button")
            page.wait_for_function("document.getElementById('login-error').textContent.includes('not accepted')")
        finally:
            browser.close()
