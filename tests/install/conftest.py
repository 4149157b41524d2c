"""The install tier: Portico installed from the checkout into a fresh venv per set of extras
(the base, what the function image has, and `[local]`, the laptop platform), each running the
commands that install promises. Skipped, with one line, only when no installer reaches the
package index; a failed install with the index answering fails the tier.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.install.installs import IndexUnreachable, Install, install

RAN: list[str] = []  # what the tier did, for the summary
UNREACHABLE: list[str] = []  # why no installer could install, once found: the whole tier skips
SKIP_REASON = "install tier: no installer reaches the package index"


def _install(extras: str) -> Iterator[Install]:
    if UNREACHABLE:
        pytest.skip(SKIP_REASON)
    try:
        installed = install(extras)
    except IndexUnreachable as unreachable:
        UNREACHABLE.append(str(unreachable))
        pytest.skip(SKIP_REASON)
    how = f"{installed.label} installed with {installed.installer} in {installed.seconds:.1f} s"
    RAN.append(how)
    try:
        yield installed
    finally:
        if os.environ.get("PORTICO_KEEP_INSTALLS") != "1":
            shutil.rmtree(installed.venv.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def base_install() -> Iterator[Install]:
    """`pip install .`: what the function image installs."""
    yield from _install("")


@pytest.fixture(scope="session")
def local_install() -> Iterator[Install]:
    """`pip install '.[local]'`: the laptop platform, `portico dev`."""
    yield from _install("local")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for why in UNREACHABLE:
        terminalreporter.write_line(f"install tier skipped: no installer reaches the index ({why})")
    if RAN:
        terminalreporter.write_line("install tier: " + "; ".join(RAN))
