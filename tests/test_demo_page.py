"""The demo page end to end: a real `pairrank serve`, driven in headless Chromium (Playwright): pick a user, see
explained recommendations, send feedback and watch the list change; build a history by search. Writes a
screenshot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, start_server

from pairrank.serve.events import EventStore

BROWSER = Path(__file__).resolve().parents[1] / "tools" / "browser.py"
FLAGS = [  # no background connections: this machine's network is closed
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "page-key"


@pytest.fixture(scope="module")
def chromium() -> str:
    found = subprocess.run([sys.executable, str(BROWSER)], capture_output=True, text=True)
    if found.returncode != 0:
        pytest.skip(f"no headless browser here: {found.stderr.strip()}")
    return found.stdout.strip()


def test_the_demo_page_shows_explained_lists_and_learns_from_a_click(chromium, ease_run, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    db, port = tmp_path / "events.sqlite", free_port()
    server = start_server(ease_run, db, port, key=KEY)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator("#model")).to_contain_text("serving")
            page.fill("#user-id", "1")
            page.click("#load-user")
            recs = page.locator("#recs li.rec")
            expect(recs).to_have_count(10)
            expect(recs.first.locator(".why")).to_contain_text("because you chose")
            first = recs.first.get_attribute("data-item-id")

            recs.first.locator("button").click()  # no key yet: the service refuses, the page says so
            expect(page.locator("#status")).to_contain_text("401")
            page.fill("#api-key", KEY)
            recs.first.locator("button").click()
            expect(recs.first).not_to_have_attribute("data-item-id", first)
            listed = [recs.nth(i).get_attribute("data-item-id") for i in range(recs.count())]
            assert first not in listed and page.locator("#recs li.new").count() >= 1
            page.screenshot(path=str(tmp_path / "demo-page.png"), full_page=True)

            page.fill("#search", "toy story")
            page.click("#search-go")
            found = page.locator("#search-results li")
            expect(found.first).to_contain_text("Toy Story")
            found.first.locator("button").click()
            expect(page.locator("#recs-title")).to_contain_text("this history")
            expect(recs).to_have_count(10)
            browser.close()
        assert EventStore(db).history("1") == [first]
        assert (tmp_path / "demo-page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        server.terminate()
        server.wait(timeout=30)
