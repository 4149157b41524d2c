"""The warm template: one pre-imported Python process per dev gateway that forks the gateway's
on-demand functions, so a function at zero starts with a fork (then its manifest, its handler
and a bind), not an interpreter start and its ~400 ms of imports. gunicorn's `preload` and
Android's zygote do the same.

Two halves, one per process:

- The template process, `python -m portico.local.template --control-fd N`: imports the modules
  named by the first line on its control socket, starting no thread (a fork copies only the
  forking thread, so a lock another thread held would stay held in every child), says it is
  ready, then serves fork requests on its control socket, one JSON object a line. Each child
  closes the socket, takes back the signal handlers a fresh interpreter has, marks its start
  (`portico.settings.mark_started`, for the cold-start metric) and runs the entry point (a
  click command) with the requested argv, then exits with its code. The template reaps its
  children and reports each exit; it ignores SIGINT and SIGTERM (a signal to the gateway's
  process group is for the functions) and exits when the gateway closes the socket.
- `WarmTemplate`, in the gateway: starts the template process and asks it for forks; each
  fork is a `TemplateChild`, which behaves as the `asyncio.subprocess.Process` a spawn gives
  (`pid`, `returncode`, `send_signal`, `kill`, `wait`). When the template dies, its children
  keep running and are watched by pid; `fork` raises `TemplateUnavailable` until a new
  template has started, and the caller starts a new process instead.

A child is what a spawn would be: the gateway's environment (the template's, inherited when
the gateway started it), stdin, stdout and stderr, and process group; its settings are read
by the command it runs, in the child. The template knows nothing of Portico's commands: the
caller names the modules to import and the entry point, so this module imports no runtime or
CLI code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from portico.local.processes import process_is_alive
from portico.settings import mark_started

log = logging.getLogger("portico.local.template")

# How long a fork request waits for a template still importing, and for the template's answer.
READY_TIMEOUT_SECONDS = 15.0
REPLY_TIMEOUT_SECONDS = 5.0
# After the template dies, functions start as new processes for this long before a new one.
RESTART_DELAY_SECONDS = 10.0
ORPHAN_POLL_SECONDS = 0.1
# The exit status of a child whose template died before it did: nobody can learn it now.
UNKNOWN_RETURNCODE = 255
# What a fresh interpreter would have for these; the template changes them, a child restores.
TEMPLATE_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)

Entry = Callable[..., Any]
T = TypeVar("T")


class TemplateUnavailable(Exception):
    """The template cannot fork now (not started, not ready in time, dead, or hung)."""


# --- the gateway's side -----------------------------------------------------------------------


class TemplateChild:
    """A process the template forked, as the scaler sees a process (asyncio.subprocess.Process's
    `pid`, `returncode`, `send_signal`, `kill`, `wait`). Its exit is reported by the template,
    or, once the template is gone, noticed by polling its pid."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._exit: Future[int] = Future()

    @property
    def returncode(self) -> int | None:
        """As asyncio's: None while it runs, its exit code, or minus the signal that killed it."""
        return self._exit.result() if self._exit.done() else None

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        # Shielded: a caller's timeout must not cancel the exit everyone else waits for.
        return await asyncio.shield(asyncio.wrap_future(self._exit))

    def exited(self, returncode: int) -> None:
        if not self._exit.done():
            self._exit.set_result(returncode)


class WarmTemplate:
    """The gateway's handle on its template process: `start()` it (it imports in the
    background), then `await fork(argv)` for each function process."""

    def __init__(self, preload: Sequence[str], entry: str) -> None:
        self.preload = list(preload)
        self.entry = entry
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._ready: Future[None] = Future()
        self._reply: Future[TemplateChild] | None = None
        self._children: dict[int, TemplateChild] = {}
        self._lock = asyncio.Lock()  # one fork request in flight at a time
        self._restart_at = 0.0

    def start(self) -> None:
        """Start a template process; it is ready once its imports are done (`ready()`)."""
        ours, theirs = socket.socketpair()
        # A short command line, what to import and run coming on the socket: a fork's title
        # (its function's command line) must be longer than the command line it overwrites, or
        # the kernel shows it NUL-padded and psutil reads one argument and empty ones.
        command = [sys.executable, "-m", __name__, "--control-fd", str(theirs.fileno())]
        with theirs:
            # The gateway's environment, stdio and process group: what its children inherit.
            self._process = subprocess.Popen(command, pass_fds=[theirs.fileno()])
        setup = {"entry": self.entry, "preload": list(self.preload)}
        ours.sendall(json.dumps(setup).encode() + b"\n")
        self._control, self._ready, self._reply = ours, Future(), None
        started = time.monotonic()
        thread = threading.Thread(
            target=self._read_events, args=(self._process, ours, self._ready, started), daemon=True
        )
        thread.start()

    def ready(self) -> bool:
        """Running, past its imports: a fork now is a fork, not a wait or a fallback."""
        ready = self._ready
        return self._control is not None and ready.done() and ready.exception() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def fork(self, argv: Sequence[str], title: str | None = None) -> TemplateChild:
        """A child of the template running argv (argv[0] is the program's name), its process
        title `title` (what `ps` shows; the template's command line otherwise). Raises
        TemplateUnavailable when the template cannot fork; a dead one is replaced here, after
        RESTART_DELAY_SECONDS, for the forks after this one."""
        async with self._lock:
            if self._control is None:
                self._restart_when_due()
                raise TemplateUnavailable("the warm template is not running")
            control, ready = self._control, self._ready
            await self._wait_for(ready, READY_TIMEOUT_SECONDS, "ready")
            reply: Future[TemplateChild] = Future()
            self._reply = reply
            try:
                request = {"argv": list(argv), "title": title}
                control.sendall(json.dumps(request).encode() + b"\n")
            except OSError as exc:
                raise TemplateUnavailable(f"the warm template is gone ({exc})") from exc
            return await self._wait_for(reply, REPLY_TIMEOUT_SECONDS, "fork")

    async def _wait_for(self, future: Future[T], timeout: float, what: str) -> T:
        wrapped = asyncio.wrap_future(future)
        done, _ = await asyncio.wait({wrapped}, timeout=timeout)
        if not done:
            self._abandon(f"no {what} answer within {timeout:.0f} s")
            raise TemplateUnavailable(f"the warm template gave no {what} answer in {timeout:.0f} s")
        return wrapped.result()

    def _abandon(self, why: str) -> None:
        """A template that hangs is as good as dead: kill it (its reader then reports it)."""
        if self._process is not None and self._process.poll() is None:
            log.warning("killing the warm template (pid %d): %s", self._process.pid, why)
            self._process.kill()

    def _restart_when_due(self) -> None:
        if time.monotonic() >= self._restart_at:
            log.info("starting a new warm template")
            self.start()

    # The reader thread: every message from the template, then its end.

    def _read_events(
        self,
        process: subprocess.Popen[bytes],
        control: socket.socket,
        ready: Future[None],
        started: float,
    ) -> None:
        for event in json_lines(control):
            kind = event.get("event")
            if kind == "ready":
                log.info(
                    "warm template ready (pid %d) in %.0f ms",
                    process.pid,
                    (time.monotonic() - started) * 1000,
                )
                ready.set_result(None)
            elif kind == "forked":
                child = TemplateChild(int(event["pid"]))
                self._children[child.pid] = child
                self._answer(child)
            elif kind == "fork_failed":
                self._answer(TemplateUnavailable(f"the warm template could not fork: {event}"))
            elif kind == "exited":
                exited = self._children.pop(int(event["pid"]), None)
                if exited is not None:
                    exited.exited(int(event["returncode"]))
        self._gone(process, control, ready)

    def _answer(self, outcome: TemplateChild | Exception) -> None:
        reply, self._reply = self._reply, None
        if reply is None or reply.done():
            return
        if isinstance(outcome, Exception):
            reply.set_exception(outcome)
        else:
            reply.set_result(outcome)

    def _gone(
        self, process: subprocess.Popen[bytes], control: socket.socket, ready: Future[None]
    ) -> None:
        try:
            returncode = process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # it closed the socket but lingers: finish it
            process.kill()
            returncode = process.wait()
        how = f"code {returncode}" if returncode >= 0 else f"signal {-returncode}"
        log.warning(
            "the warm template (pid %d) exited (%s): functions start as new processes until a "
            "new one is up (in %.0f s at the earliest)",
            process.pid,
            how,
            RESTART_DELAY_SECONDS,
        )
        gone = TemplateUnavailable(f"the warm template exited ({how})")
        if not ready.done():
            ready.set_exception(gone)
        self._answer(gone)
        orphans, self._children = self._children, {}
        self._restart_at = time.monotonic() + RESTART_DELAY_SECONDS
        if self._control is control:
            self._control = None  # from here on, fork() may start a new template
        control.close()
        watch_orphans(list(orphans.values()))


def json_lines(control: socket.socket) -> Iterator[dict[str, Any]]:
    """Each JSON object the template sends, until the socket closes."""
    with contextlib.suppress(OSError), control.makefile("rb") as lines:
        for line in lines:
            with contextlib.suppress(ValueError):
                yield json.loads(line)


def watch_orphans(children: list[TemplateChild]) -> None:
    """Children that outlived their template belong to PID 1 now: poll until each is gone."""
    while children:
        for child in [c for c in children if not process_is_alive(c.pid)]:
            child.exited(UNKNOWN_RETURNCODE)
            children.remove(child)
        time.sleep(ORPHAN_POLL_SECONDS)


# --- the template process ---------------------------------------------------------------------


def serve_forks(control: socket.socket, entry: Entry) -> None:
    """Answer fork requests and report exits until the gateway closes the socket."""
    fresh = {signum: signal.getsignal(signum) for signum in TEMPLATE_SIGNALS}
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)  # SIGCHLD wakes the select below
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pending = b""

    def child(argv: list[str], title: str | None) -> None:
        control.close()
        signal.set_wakeup_fd(-1)
        os.close(wake_read)
        os.close(wake_write)
        for signum, handler in fresh.items():
            signal.signal(signum, handler)
        run_child(entry, argv, title)

    send(control, event="ready", pid=os.getpid())
    while True:
        readable, _, _ = select.select([control.fileno(), wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 4096)
            report_exits(control)
        if control.fileno() in readable:
            data = control.recv(65536)
            if not data:
                return  # the gateway is gone; its children are not ours to stop
            pending += data
            *requests, pending = pending.split(b"\n")
            for request in map(json.loads, requests):
                fork_one(control, request["argv"], request.get("title"), child)
        report_exits(control)


def fork_one(
    control: socket.socket,
    argv: list[str],
    title: str | None,
    child: Callable[[list[str], str | None], None],
) -> None:
    try:
        pid = os.fork()
    except OSError as exc:
        send(control, event="fork_failed", error=str(exc))
        return
    if pid == 0:
        child(argv, title)  # never returns
    send(control, event="forked", pid=pid)


def report_exits(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        send(control, event="exited", pid=pid, returncode=os.waitstatus_to_exitcode(status))


def send(control: socket.socket, **event: Any) -> None:
    control.sendall(json.dumps(event).encode() + b"\n")


def run_child(entry: Entry, argv: list[str], title: str | None = None) -> None:
    """In the forked child: run the entry point as `argv` would run the program, then exit
    with its code (os._exit: the template's own stack below must never run again here)."""
    code = 1
    try:
        mark_started()
        if title:
            set_title(title)
        sys.argv = list(argv)
        entry(args=argv[1:], prog_name=Path(argv[0]).name)
        code = 0
    except SystemExit as exit_:
        code = exit_code(exit_.code)
    except BaseException:
        traceback.print_exc()
    finally:
        logging.shutdown()  # what the interpreter's exit would have flushed
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def set_title(title: str) -> None:
    """What `ps` (and psutil's cmdline()) shows for this process: a fork would otherwise show
    the template's command line, and the child would not be recognisable as what it runs."""
    try:
        from setproctitle import setproctitle
    except ImportError:  # an optional nicety: a fork serves the same without it
        return
    setproctitle(title)


def exit_code(code: object) -> int:
    """SystemExit's code as the interpreter turns it into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def load_entry(spec: str) -> Entry:
    module, _, name = spec.partition(":")
    entry: Entry = getattr(importlib.import_module(module), name)
    return entry


def main(args: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m portico.local.template",
        description="The first line on the control socket names the entry point (MODULE:NAME, "
        "a click command) and the modules to import before forking.",
    )
    parser.add_argument("--control-fd", type=int, required=True)
    options = parser.parse_args(args)
    control = socket.socket(fileno=options.control_fd)
    with control.makefile("rb") as lines:  # nothing else is sent before "ready"
        setup = json.loads(lines.readline())
    for module in setup["preload"]:
        importlib.import_module(module)
    entry = load_entry(setup["entry"])
    if threading.active_count() > 1:
        names = ", ".join(t.name for t in threading.enumerate())
        sys.exit(f"warm template: importing the modules started threads ({names}); not forking")
    serve_forks(control, entry)


if __name__ == "__main__":
    main()
