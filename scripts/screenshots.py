#!/usr/bin/env python3
"""Screenshots of the main pages for the README, taken with headless Chromium (Playwright).

Needs the product running (`scripts/run`). Usage:
    .venv/bin/python scripts/screenshots.py [--url http://127.0.0.1:8080] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

PAGES = [
    ("mail-servers", "/admin/servers"),
    ("mail-scanner", "/admin/accounts"),
    ("mail-configuration", "/admin/configuration"),
    ("download-history", "/admin/runs"),
    ("tickets", "/tickets"),
    ("emails", "/emails"),
]
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--email", default="admin@demo.corpmail.test")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--polish-email", default="piotr@demo.corpmail.test",
                        help="a user whose language is Polish, for the Polish screenshot")
    parser.add_argument("--polish-password", default="piotr")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        page = login(browser, args.url, args.email, args.password)
        for name, path in PAGES:
            page.goto(args.url + path)
            page.screenshot(path=str(out / f"{name}.png"), full_page=False)
            print(f"{out / name}.png")
        # The detail of the newest e-mail and of the first scanner account's folders.
        page.goto(args.url + "/emails")
        first = page.locator("a[href*='/emails/']").first
        if first.count():
            first.click()
            page.screenshot(path=str(out / "email.png"))
            print(f"{out / 'email'}.png")
        # The top bar's mailboxes (admin has several: a drop-down), then a click into
        # Roundcube, logged in through autologin.
        page.goto(args.url + "/tickets")
        page.click("#topbar-mailboxes [data-bs-toggle=dropdown]")
        page.wait_for_selector("#topbar-mailboxes .dropdown-menu.show")
        page.screenshot(path=str(out / "topbar-mailboxes.png"))
        print(f"{out / 'topbar-mailboxes'}.png")
        page.click("#topbar-mailboxes .dropdown-menu a:has-text('Sales')")
        page.wait_for_selector("#messagelist tr.message")
        page.screenshot(path=str(out / "webmail-inbox.png"))
        print(f"{out / 'webmail-inbox'}.png")
        page.context.close()
        # The same product in Polish: the language is the user's own setting.
        page = login(browser, args.url, args.polish_email, args.polish_password)
        page.goto(args.url + "/tickets")
        page.screenshot(path=str(out / "tickets-pl.png"))
        print(f"{out / 'tickets-pl'}.png")
        browser.close()


def login(browser, url: str, email: str, password: str):
    """A new browser context logged in through the real login form."""
    page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    page.goto(url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("[type=submit]")
    page.wait_for_url(url + "/")
    return page


if __name__ == "__main__":
    main()
