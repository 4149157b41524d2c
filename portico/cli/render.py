"""`portico render ...`: the configuration rendered from the manifests (committed under
gateway-config/ and the chart), and `portico kong-config`, which the chart's Kong init
container runs. Base install only: nothing here imports the laptop's packages."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from portico.cli.options import (
    consumers_option,
    functions_option,
    manifests_or_exit,
    output_option,
    read_consumers,
    settings_for,
    write_rendered,
)

if TYPE_CHECKING:
    from portico.policies.consumers import Consumer


@click.group("render")
def render() -> None:
    """Render configuration from the manifests (committed under gateway-config/)."""


def gateway_margin_option(f: click.decorators.FC) -> click.decorators.FC:
    from portico.manifest.limits import GATEWAY_MARGIN_SECONDS

    return click.option(
        "--gateway-margin-seconds",
        type=click.IntRange(min=0),
        default=GATEWAY_MARGIN_SECONDS,
        show_default=True,
        help="How long past a function's timeout_seconds the gateway waits for its answer.",
    )(f)


def upstream_template_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    problem = f"{value!r} must contain {{name}} and no other {{...}} field"
    try:
        value.format(name="")
    except (KeyError, IndexError, ValueError) as exc:
        raise click.BadParameter(problem) from exc
    if "{name}" not in value:
        raise click.BadParameter(problem)
    return value


@render.command("openapi")
@output_option("gateway-config/openapi.json")
@functions_option
def render_openapi(output: Path, functions_dir: Path) -> None:
    """The OpenAPI 3.1 document of every HTTP function."""
    import json

    from portico.render.openapi import render as render_document

    text = json.dumps(render_document(manifests_or_exit(functions_dir)), indent=2) + "\n"
    write_rendered(output, text)


@render.command("kong")
@output_option("gateway-config/kong.yaml")
@click.option(
    "--upstream-template",
    default="http://portico-{name}.portico.svc.cluster.local",
    show_default=True,
    callback=upstream_template_option,
    help="Each service's URL; {name} is the function's name.",
)
@click.option(
    "--redis-host",
    default="portico-redis",
    show_default=True,
    help="The Redis that keeps the rate-limit counters.",
)
@click.option("--redis-port", type=click.IntRange(1, 65535), default=6379, show_default=True)
@gateway_margin_option
@consumers_option
@functions_option
def render_kong(
    output: Path,
    upstream_template: str,
    redis_host: str,
    redis_port: int,
    gateway_margin_seconds: int,
    consumers: tuple[Consumer, ...],
    functions_dir: Path,
) -> None:
    """Kong OSS 3.9 DB-less configuration: a service and a route per HTTP function, with the
    manifest's policies as plugins.

    --consumers FILE lists the consumers, their API keys and their JWT issuers (the `iss` of
    their tokens, with the HS256 secret or the RS256 public key that checks them):

    \b
      - username: acme
        keys: [a-long-random-key]
      - username: globex
        keys: [first-key, second-key]
        jwt:
          - issuer: https://login.globex.example
            algorithm: RS256
            public_key: |
              -----BEGIN PUBLIC KEY-----
              ...
              -----END PUBLIC KEY-----
          - issuer: globex-batch
            algorithm: HS256
            secret: a-long-random-secret

    Without it the dev consumers alice and bob are rendered with their published credentials,
    under a warning that they are dev-only: the chart replaces the consumers from a Secret.
    """
    from portico.render import kong

    config = kong.render(
        manifests_or_exit(functions_dir),
        upstream_template=upstream_template,
        redis_host=redis_host,
        redis_port=redis_port,
        consumers=consumers,
        gateway_margin_seconds=gateway_margin_seconds,
    )
    write_rendered(output, kong.to_yaml(config))


@render.command("values")
@click.option(
    "--values",
    "values_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default="charts/portico/values.yaml",
    show_default=True,
    help="The chart's values.yaml; only its generated block (at the end) is rewritten.",
)
@gateway_margin_option
@functions_option
def render_values(values_file: Path, gateway_margin_seconds: int, functions_dir: Path) -> None:
    """The chart's generated values: each function's kind, timeouts, concurrency, scale and
    memory, and Kong's declarative config, rewritten at the end of values.yaml."""
    from portico.render.values import rewrite_values

    current = values_file.read_text() if values_file.exists() else ""
    manifests = manifests_or_exit(functions_dir)
    write_rendered(values_file, rewrite_values(current, manifests, gateway_margin_seconds))


@render.command("chart-readme")
@click.option(
    "--values",
    "values_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default="charts/portico/values.yaml",
    show_default=True,
    help="The chart's values.yaml; the README is written beside it.",
)
def render_chart_readme(values_file: Path) -> None:
    """The chart's README.md: every value with its type, default and the comments above it in
    values.yaml (run after `render values`, whose block it documents too)."""
    from portico.render.chart_readme import render as render_readme

    write_rendered(values_file.with_name("README.md"), render_readme(values_file.read_text()))


@render.command("openfaas")
@output_option("gateway-config/openfaas/stack.yml")
@click.option(
    "--image", default="portico-functions:latest", show_default=True, help="The function image."
)
@functions_option
def render_openfaas(output: Path, image: str, functions_dir: Path) -> None:
    """OpenFaaS stack file: one function per HTTP function (queue workers are left out)."""
    from portico.render.openfaas import document

    write_rendered(output, document(manifests_or_exit(functions_dir), image=image))


@click.command("kong-config")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--consumers",
    "consumers_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The consumers file to add (without it, the config keeps no consumers).",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def kong_config(config: Path, consumers_file: Path | None, output: Path) -> None:
    """Write CONFIG (a rendered Kong config) with the consumers of a consumers file, and the
    gateway secret from PORTICO_GATEWAY_SECRET in place of its reference: the chart's Kong
    init container joins its ConfigMap, its consumers Secret and its gateway Secret this way."""
    from portico.render.kong import with_consumers

    consumers = read_consumers(consumers_file, default=())
    secret = settings_for(Path("functions")).gateway_secret
    write_rendered(output, with_consumers(config.read_text(), consumers, secret))
