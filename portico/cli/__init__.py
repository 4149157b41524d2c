"""The `portico` command: argument parsing only, one module per group of commands.

- `options`: the options, settings and manifests every command starts from, and the one line a
  command exits with when Postgres or Redis does not answer;
- `check`: `portico check` and its report;
- `functions`: what a function image runs (migrate, seed, serve, worker, relay, run);
- `render`: `portico render ...` and `portico kong-config`;
- `dlq`: `portico dlq list|show|replay`;
- `local`: the laptop's `portico dev` and `portico gateway` (which import the `local` extra
  only when they run) and `portico dev-token`.

May import: every part of `portico`. The base commands import nothing of `portico.local` or
`portico.gateway`.
"""

from __future__ import annotations

import click

from portico.cli.check import check
from portico.cli.dlq import dlq
from portico.cli.functions import migrate, relay, run_from_environment, seed, serve, worker
from portico.cli.local import dev, dev_token, gateway
from portico.cli.render import kong_config, render
from portico.settings import mark_started


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Portico: function-backed HTTP APIs from one manifest per function.

    Configuration comes from the environment: DATABASE_URL, REDIS_URL, PORTICO_FUNCTION,
    PORTICO_LOG_LEVEL, PORTICO_FUNCTIONS_DIR.
    """
    mark_started()  # for the cold-start metric; gunicorn's forked worker inherits it


for command in (
    check,
    migrate,
    seed,
    serve,
    worker,
    relay,
    run_from_environment,
    render,
    kong_config,
    dlq,
    gateway,
    dev,
    dev_token,
):
    main.add_command(command)
