"""`portico check`: every manifest, every handler, the connection budget, the timeout chain and
the boundary lint.

The report is built here (`report`), next to the command, from the checks of
`portico.manifest.limits` and `portico.manifest.boundaries` and the handler loader of
`portico.runtime.handler`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import click

from portico.cli.options import functions_option, manifests_or_exit, settings_for
from portico.manifest import Manifest
from portico.manifest.boundaries import RULES_BY_CODE, Review, review


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
    return lines + boundary_lines(review(manifests))


def boundary_lines(verdict: Review) -> list[CheckLine]:
    """The boundary lint: failures are errors; allowed findings and needless allows are not."""
    lines = [
        CheckLine(
            f"boundaries: {len(verdict.failures)} finding(s), {len(verdict.allowed)} allowed "
            f"({', '.join(RULES_BY_CODE)}; portico check --explain CODE)"
        )
    ]
    for finding in verdict.failures:
        lines.append(CheckLine(f"error: {finding}", error=True))
    for finding, reason in verdict.allowed:
        lines.append(CheckLine(f"allowed: {finding} (lint.allow: {reason})"))
    for entry in verdict.unused:
        lines.append(
            CheckLine(
                f"note: {entry.location}: lint.allow.{entry.code}: {entry.code} does not fire "
                f"for {entry.function}; the entry can go"
            )
        )
    for entry in verdict.unknown:
        lines.append(
            CheckLine(
                f"error: {entry.location}: lint.allow.{entry.code}: no rule {entry.code} "
                f"(rules: {', '.join(RULES_BY_CODE)})",
                error=True,
            )
        )
    return lines


def explain_rule(ctx: click.Context, param: click.Parameter, code: str | None) -> None:
    """--explain CODE: print the rule's explanation and exit (before anything is loaded)."""
    if code is None or ctx.resilient_parsing:
        return
    rule = RULES_BY_CODE.get(code.upper())
    if rule is None:
        raise click.BadParameter(
            f"no rule {code!r}; the rules: {', '.join(RULES_BY_CODE)}", ctx, param
        )
    click.echo(rule.explain())
    ctx.exit(0)


@click.command("check")
@click.option(
    "--connection-budget",
    type=click.IntRange(min=1),
    envvar="PORTICO_DB_CONNECTION_BUDGET",
    default=97,
    show_default=True,
    help="Postgres connections the deployment may use (max_connections less reserved).",
)
@click.option(
    "--explain",
    metavar="CODE",
    callback=explain_rule,
    expose_value=False,
    is_eager=True,
    help="Print what boundary rule CODE (such as PB101) checks, why, and how to silence it.",
)
@functions_option
def check(connection_budget: int, functions_dir: Path) -> None:
    """Validate every manifest and import every handler; check the deployment's worst-case
    Postgres connections against the budget, its timeout chain, and the boundary lint (rules
    PB101-PB107; a manifest may allow one with a reason: lint: {allow: {PB101: "why"}}).
    Exit 1 on any error or finding that is not allowed."""
    manifests = manifests_or_exit(functions_dir)
    margin = settings_for(functions_dir).gateway_margin_seconds
    lines = report(manifests, connection_budget, margin)
    for line in lines:
        click.echo(line.text, err=line.error)
    if any(line.error for line in lines):
        sys.exit(1)
    click.echo(f"{len(manifests)} function(s), all valid")
