"""The browser tier: the dev console in Debian's Chromium, driven by Playwright (its own browser
download is not used), on a real `portico dev` with its own Postgres and Redis.

Without /usr/bin/chromium (or PORTICO_CHROMIUM) every test here is skipped with one line;
`.ci/run` installs it, so CI runs them all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from portico.local.ports import free_port
from tests.conftest import scratch_dir
from tests.integration.devstack import DevStack

CHROMIUM = Path(os.environ.get("PORTICO_CHROMIUM", "/usr/bin/chromium"))
# The fault tests' short relay and abandoned-job grace periods: stranded work moves on quickly.
STACK_ENV = {"PORTICO_RELAY_GRACE_SECONDS": "1", "PORTICO_ABANDONED_JOB_GRACE_SECONDS": "2"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(item.path).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.timeout(240))
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}"))


@pytest.fixture(scope="session")
def stack() -> Iterator[DevStack]:
    # The app's own stand-ins (payments, mailer), never a provider named by the environment.
    dev = DevStack(
        scratch_dir("portico-browser-"),
        free_port(),
        env=STACK_ENV,
        unset=("PAYMENT_PROVIDER_URL", "MAIL_RELAY_URL"),
    )
    try:
        dev.wait_ready()
        yield dev
    finally:
        dev.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture()
def console(browser: Browser, stack: DevStack) -> Iterator[Page]:
    """The console's page, failing the test on a script error or a request to another host."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((stack.base_url, "data:"))
            else elsewhere.append(request.url)
        ),
    )
    page.goto(f"{stack.base_url}/_portico/")
    yield page
    context.close()
    assert errors == [], f"script errors on the console: {errors}"
    assert elsewhere == [], f"the console fetched from elsewhere: {elsewhere}"
