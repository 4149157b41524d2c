"""`portico dlq list|show|replay`: the dead letters of `portico.queueing.dlq`, in the Redis at
REDIS_URL (or the running dev stack's)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from portico.cli.options import functions_option, manifests_or_exit, require_redis, settings_for
from portico.settings import Settings

if TYPE_CHECKING:
    import redis


@click.group("dlq")
def dlq() -> None:
    """Dead letters: queue messages whose jobs failed after all their retries."""


def queues_and_settings(functions_dir: Path) -> tuple[list[str], Settings]:
    from portico.queueing.relay import queue_names

    settings = settings_for(functions_dir)
    return queue_names(manifests_or_exit(functions_dir)), settings


def connect(settings: Settings) -> redis.Redis:
    """A client of the Redis at REDIS_URL, once it answers; else one line and exit 1."""
    import redis

    require_redis(settings)
    return redis.Redis.from_url(settings.redis_url)


@dlq.command("list")
@click.option("--queue", "only", help="Only this queue.")
@functions_option
def dlq_list(only: str | None, functions_dir: Path) -> None:
    """One line per dead letter: job id, queue, when it failed, why."""
    from portico.queueing.dlq import dead_letters, summary

    queues, settings = queues_and_settings(functions_dir)
    letters = dead_letters(connect(settings), [only] if only else queues)
    for letter in letters:
        click.echo(summary(letter))
    click.echo(f"{len(letters)} dead letter(s)", err=True)


@dlq.command("show")
@click.argument("job_id")
@functions_option
def dlq_show(job_id: str, functions_dir: Path) -> None:
    """The message and the full error of one dead letter."""
    from portico.queueing.dlq import UnknownDeadLetter, details, find_all

    queues, settings = queues_and_settings(functions_dir)
    try:
        [letter] = find_all(connect(settings), queues, [job_id])
    except UnknownDeadLetter as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(details(letter))


@dlq.command("replay")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@functions_option
def dlq_replay(job_ids: tuple[str, ...], replay_all: bool, functions_dir: Path) -> None:
    """Put dead letters back on their queues (safe: processed messages are skipped)."""
    from portico.queueing.dlq import UnknownDeadLetter, dead_letters, replay_ids

    queues, settings = queues_and_settings(functions_dir)
    if replay_all == bool(job_ids):
        raise click.UsageError("name JOB_IDS or pass --all")
    connection = connect(settings)
    if replay_all:
        job_ids = tuple(letter.job_id for letter in dead_letters(connection, queues))
    try:
        letters = replay_ids(connection, queues, job_ids)
    except UnknownDeadLetter as exc:
        raise click.ClickException(str(exc)) from exc
    for letter in letters:
        click.echo(f"replayed {letter.job_id} onto {letter.queue}")
