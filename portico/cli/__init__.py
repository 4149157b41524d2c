"""The `portico` command: argument parsing only, one module per group of commands.

- `options`: the options, settings and manifests every command starts from, and the one line a
  command exits with when Postgres or Redis does not answer;
- `check`: `portico check` and its report;
- `explain`: `portico explain NAME`, a function's whole path from the manifests;
- `functions`: what a function image runs (migrate, seed, serve, worker, relay, run);
- `render`: `portico render ...` and `portico kong-config`;
- `dlq`: `portico dlq list|show|replay`;
- `local`: the laptop's `portico dev` and `portico gateway` (which import the `local` extra
  only when they run) and `portico dev-token`.

A command's module is imported only when that command runs (or when `portico --help` lists
the commands), so `portico serve` loads nothing of render, check, dlq or local.

May import: every part of `portico`. The base commands import nothing of `portico.local` or
`portico.gateway`.
"""

from __future__ import annotations

import importlib

import click

from portico.settings import mark_started

# Command name -> "module:attribute" of its click command (`--help` lists them sorted).
COMMANDS = {
    "check": "portico.cli.check:check",
    "explain": "portico.cli.explain:explain",
    "migrate": "portico.cli.functions:migrate",
    "seed": "portico.cli.functions:seed",
    "serve": "portico.cli.functions:serve",
    "worker": "portico.cli.functions:worker",
    "relay": "portico.cli.functions:relay",
    "run": "portico.cli.functions:run_from_environment",
    "render": "portico.cli.render:render",
    "kong-config": "portico.cli.render:kong_config",
    "dlq": "portico.cli.dlq:dlq",
    "gateway": "portico.cli.local:gateway",
    "dev": "portico.cli.local:dev",
    "dev-token": "portico.cli.local:dev_token",
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name when first looked up (click's documented
    lazy-loading pattern)."""

    def __init__(self, *args: object, lazy_commands: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy_commands, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise TypeError(f"{self.lazy_commands[cmd_name]} is not the command {cmd_name!r}")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def main() -> None:
    """Portico: function-backed HTTP APIs from one manifest per function.

    Configuration comes from the environment: DATABASE_URL, REDIS_URL, PORTICO_FUNCTION,
    PORTICO_LOG_LEVEL, PORTICO_FUNCTIONS_DIR.
    """
    mark_started()  # for the cold-start metric; gunicorn's forked worker inherits it
