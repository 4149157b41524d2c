"""`portico check`: every manifest, every handler, the connection budget, the timeout chain.

The report is built here (`report`), next to the command, from the checks of
`portico.manifest.limits` and the handler loader of `portico.runtime.handler`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import click

from portico.cli.options import functions_option, manifests_or_exit, settings_for
from portico.manifest import Manifest


class CheckLine(NamedTuple):
    text: str
    error: bool = False  # an error line (standard error) rather than a report line


def report(
    manifests: list[Manifest], connection_budget: int, margin_seconds: int
) -> list[CheckLine]:
    """What `portico check` says, in order; it passes when no line is an error."""
    from portico.manifest.limits import connection_problems, connection_use, timeout_problems
    from portico.runtime.handler import HandlerError, load_handler
    from portico.state.transaction import CANCEL_SECONDS

    lines = []
    for m in manifests:
        try:
            load_handler(m)
        except HandlerError as exc:
            lines.append(CheckLine(f"error: {exc}", error=True))
            continue
        what = str(m.api.route) if m.api else f"queue {m.trigger.queue}" if m.trigger else ""
        lines.append(CheckLine(f"ok  {m.name:16} {what:28} {m.function.handler}"))
    worst = sum(use.total for use in connection_use(manifests))
    lines.append(
        CheckLine(f"Postgres connections at max scale: {worst} of a budget of {connection_budget}")
    )
    timeouts = timeout_problems(
        manifests, margin_seconds=margin_seconds, cancel_seconds=CANCEL_SECONDS
    )
    for problem in connection_problems(manifests, connection_budget) + timeouts:
        lines.append(CheckLine(f"error: {problem}", error=True))
    return lines


@click.command("check")
@click.option(
    "--connection-budget",
    type=click.IntRange(min=1),
    envvar="PORTICO_DB_CONNECTION_BUDGET",
    default=97,
    show_default=True,
    help="Postgres connections the deployment may use (max_connections less reserved).",
)
@functions_option
def check(connection_budget: int, functions_dir: Path) -> None:
    """Validate every manifest and import every handler; check the deployment's worst-case
    Postgres connections against the budget and its timeout chain. Exit 1 on any error."""
    manifests = manifests_or_exit(functions_dir)
    margin = settings_for(functions_dir).gateway_margin_seconds
    lines = report(manifests, connection_budget, margin)
    for line in lines:
        click.echo(line.text, err=line.error)
    if any(line.error for line in lines):
        sys.exit(1)
    click.echo(f"{len(manifests)} function(s), all valid")
