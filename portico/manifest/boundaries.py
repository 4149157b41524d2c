"""The boundary lint: rules about what belongs on a request's path and what belongs in a worker,
checked by `portico check` across every manifest.

The rules are data (`RULES`: code, name, one-line summary, the explanation `portico check
--explain CODE` prints); `findings` is a function of the manifests and the handler modules they
name (read, never imported). A manifest silences a rule with a reason (`lint: {allow: {PB101:
"why"}}`); `review` sorts the findings into failures and allowed ones, and notes the allow
entries that silence nothing.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from portico.manifest.lines import FieldPath
from portico.manifest.model import Manifest
from portico.manifest.wording import display

# Longer than this, a client (or the proxy in front of it) has likely given up already.
CLIENT_PATIENCE_SECONDS = 30
MAX_SYNC_DEPENDENCIES = 1
MAX_PUBLISHED_QUEUES = 2
# Modules that open connections of their own: egress that no `dependencies` entry declares.
NETWORK_MODULES = frozenset(
    {
        "aiohttp",
        "boto3",
        "botocore",
        "ftplib",
        "grpc",
        "http.client",
        "httpx",
        "imaplib",
        "paramiko",
        "poplib",
        "pycurl",
        "requests",
        "smtplib",
        "socket",
        "ssl",
        "telnetlib",
        "urllib.request",
        "urllib3",
        "websocket",
        "websockets",
        "xmlrpc.client",
    }
)


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    explanation: str  # why it matters and what to do instead
    allow_reason: str  # a reason a manifest might give for silencing it

    def explain(self, width: int = 96) -> str:
        silence = (
            "When it is what you mean, say why in the manifest, and `portico check` reports "
            f"the finding as allowed with your reason: lint: {{allow: {{{self.code}: "
            f"{self.allow_reason!r}}}}}"
        )
        paragraphs = (textwrap.fill(text, width) for text in (self.explanation, silence))
        return f"{self.code} {self.name}: {self.summary}\n\n" + "\n\n".join(paragraphs)


RULES: tuple[Rule, ...] = (
    Rule(
        "PB101",
        "one-sync-dependency",
        "an HTTP function calls more than one dependency while its client waits",
        "Each synchronous call adds its latency to the request and its failures to the "
        "function's: with two providers at 99.9% each, the route is at best 99.8%, and its "
        "slowest answer is the sum of theirs. Keep one call on the request path (the one the "
        "client must wait for, such as a payment authorization) and move the others to a worker "
        "behind a queue: the handler commits and publishes, the worker calls and retries. ",
        "the fraud check must answer before we accept the order",
    ),
    Rule(
        "PB102",
        "few-queues-per-request",
        "an HTTP function publishes to more than two queues",
        "A request that fans out to many queues couples its handler to every consumer: each new "
        "downstream step means changing and redeploying the API. Publish one event (order-placed) "
        "and let a worker fan it out to the queues of each step, off the request path; adding a "
        "step then changes only that worker. ",
        "each queue is a different tenant's intake",
    ),
    Rule(
        "PB103",
        "dependency-budget-fits",
        "a dependency's worst case (timeout x (1 + retries)), or all of them together, takes "
        "the function's whole timeout",
        "A call may take its timeout on every attempt, so one dependency can take timeout_seconds "
        "x (1 + retries), and the calls of one request add up. When that reaches the function's "
        "timeout_seconds, a slow provider leaves no time to commit and answer: the client gets a "
        "504 for work that may have happened. Lower the dependency's timeout_seconds or retries, "
        "raise the function's timeout_seconds, or move the call to a worker. ",
        "the provider answers or fails fast; measured p99 0.2 s",
    ),
    Rule(
        "PB104",
        "answer-while-the-client-waits",
        f"an HTTP function's timeout_seconds is above {CLIENT_PATIENCE_SECONDS}",
        "Clients, load balancers and proxies commonly give up after 30 to 60 seconds; a function "
        "allowed to run longer does work no one will read, while holding a database connection "
        "and a slot of its concurrency. Accept the request quickly (202 with a Location to poll) "
        "and do the long part in a worker, whose timeout can be minutes. ",
        "an internal export; its only client waits 120 s",
    ),
    Rule(
        "PB105",
        "idempotent-posts",
        "a POST route turns idempotency off (api.idempotency: false)",
        "Clients retry a POST whose answer they did not get (a timeout, a dropped connection); "
        "without an Idempotency-Key the retry creates a second order, claim or payment. Leave "
        "api.idempotency on (the default for POST), so that a retry with the same key replays "
        "the first answer. ",
        "the handler upserts on a natural key; a repeat changes nothing",
    ),
    Rule(
        "PB106",
        "workers-retry",
        "a worker's trigger.retries is 0",
        "With no retries, one failure (a deploy that restarts the worker, a provider's blip, a "
        "lock timeout) sends the message straight to the dead letters, where it waits for "
        "someone to run `portico dlq replay`. Keep a few retries (the default is 3, with "
        "exponential backoff) and make the job idempotent; failures that retrying cannot fix "
        "still end in the dead letters. ",
        "the job is not safe to repeat; an operator reviews each failure",
    ),
    Rule(
        "PB107",
        "declared-egress",
        "a handler module imports a network client directly",
        "A handler that opens its own connections (requests, httpx, urllib.request, socket, "
        "smtplib, ...) has egress that no manifest shows: `portico explain` cannot show it, the "
        "chart has no URL value for it, its time is not bounded by the function's deadline, and "
        "the egress guard (PORTICO_EGRESS) cannot tell it from a mistake. Declare the system "
        "under dependencies and call it as ctx.<binding>, which is bounded, retried only when "
        "safe and configured per environment. The handler module and the .py files beside it "
        "are read. ",
        "the SDK of our object store; its endpoint is in the chart",
    ),
)
RULES_BY_CODE = {rule.code: rule for rule in RULES}


@dataclass(frozen=True)
class Finding:
    code: str
    function: str
    path: Path  # the manifest, or for PB107 the module with the import
    line: int | None
    message: str

    @property
    def location(self) -> str:
        return display(self.path) + (f":{self.line}" if self.line is not None else "")

    def __str__(self) -> str:
        return f"{self.location}: {self.code} {self.function}: {self.message}"


@dataclass(frozen=True)
class AllowEntry:
    """One `lint.allow` entry of a manifest."""

    function: str
    path: Path
    line: int | None
    code: str
    reason: str

    @property
    def location(self) -> str:
        return display(self.path) + (f":{self.line}" if self.line is not None else "")


@dataclass(frozen=True)
class Review:
    failures: list[Finding]
    allowed: list[tuple[Finding, str]]  # each with the manifest's reason
    unused: list[AllowEntry]  # allow entries of a rule that does not fire there
    unknown: list[AllowEntry]  # allow entries naming no rule


def findings(manifests: list[Manifest]) -> list[Finding]:
    """Every finding of every rule, allowed or not, in manifest order."""
    return [finding for m in manifests for check in _CHECKS for finding in check(m)]


def review(manifests: list[Manifest]) -> Review:
    found = findings(manifests)
    failures: list[Finding] = []
    allowed: list[tuple[Finding, str]] = []
    for finding in found:
        reason = _allowance(manifests, finding)
        if reason is None:
            failures.append(finding)
        else:
            allowed.append((finding, reason))
    entries = [entry for m in manifests for entry in allow_entries(m)]
    fired = {(f.function, f.code) for f in found}
    unknown = [e for e in entries if e.code not in RULES_BY_CODE]
    unused = [e for e in entries if e.code in RULES_BY_CODE and (e.function, e.code) not in fired]
    return Review(failures, allowed, unused, unknown)


def allow_entries(manifest: Manifest) -> list[AllowEntry]:
    return [
        AllowEntry(
            manifest.name, manifest.path, _line(manifest, ("lint", "allow", code)), code, why
        )
        for code, why in manifest.lint_allow
    ]


def _allowance(manifests: list[Manifest], finding: Finding) -> str | None:
    manifest = next(m for m in manifests if m.name == finding.function)
    return dict(manifest.lint_allow).get(finding.code)


def _line(manifest: Manifest, at: FieldPath) -> int | None:
    return manifest._lines.line(at, key=True)


def _finding(manifest: Manifest, code: str, at: FieldPath, message: str) -> Finding:
    return Finding(code, manifest.name, manifest.path, _line(manifest, at), message)


def _sync_dependencies(m: Manifest) -> Iterator[Finding]:
    if m.is_http and len(m.dependencies) > MAX_SYNC_DEPENDENCIES:
        names = ", ".join(d.binding for d in m.dependencies)
        yield _finding(
            m,
            "PB101",
            ("dependencies",),
            f"calls {len(m.dependencies)} dependencies ({names}) while its client waits; keep "
            "one on the request path and move the rest to a worker",
        )


def _published_queues(m: Manifest) -> Iterator[Finding]:
    if m.is_http and len(m.queues) > MAX_PUBLISHED_QUEUES:
        names = ", ".join(q.name for q in m.queues)
        yield _finding(
            m,
            "PB102",
            ("resources",),
            f"publishes to {len(m.queues)} queues ({names}); publish one event and fan it out "
            "in a worker",
        )


def worst_case_seconds(timeout_seconds: float, retries: int) -> float:
    """How long one dependency can hold a request: its timeout on every attempt."""
    return timeout_seconds * (1 + retries)


def _dependency_budget(m: Manifest) -> Iterator[Finding]:
    deadline = m.function.timeout_seconds
    total = 0.0
    for d in m.dependencies:
        worst = worst_case_seconds(d.timeout_seconds, d.retries)
        total += worst
        # A single call as long as the deadline is an error of the timeout chain already.
        if d.timeout_seconds < deadline <= worst:
            yield _finding(
                m,
                "PB103",
                ("dependencies", d.binding),
                f"dependency {d.binding} can take {worst:g} s ({d.timeout_seconds:g} s x "
                f"{1 + d.retries} attempts), not less than the function's timeout_seconds of "
                f"{deadline} s: no time is left to commit and answer",
            )
    if len(m.dependencies) > 1 and total >= deadline:
        yield _finding(
            m,
            "PB103",
            ("dependencies",),
            f"its dependencies together can take {total:g} s, not less than the function's "
            f"timeout_seconds of {deadline} s: no time is left to commit and answer",
        )


def _long_timeout(m: Manifest) -> Iterator[Finding]:
    timeout = m.function.timeout_seconds
    if m.is_http and timeout > CLIENT_PATIENCE_SECONDS:
        yield _finding(
            m,
            "PB104",
            ("function", "timeout_seconds"),
            f"timeout_seconds is {timeout}, above the {CLIENT_PATIENCE_SECONDS} s a client "
            "commonly waits; answer 202 and do the long part in a worker",
        )


def _post_without_idempotency(m: Manifest) -> Iterator[Finding]:
    if m.api is not None and m.api.route.method == "POST" and m.api.idempotency is None:
        yield _finding(
            m,
            "PB105",
            ("api", "idempotency"),
            f"{m.api.route} turns idempotency off: a client's retry does the work twice",
        )


def _worker_without_retries(m: Manifest) -> Iterator[Finding]:
    if m.trigger is not None and m.trigger.retries == 0:
        yield _finding(
            m,
            "PB106",
            ("trigger", "retries"),
            f"retries is 0: one failure sends a message of {m.trigger.queue} straight to the "
            "dead letters",
        )


def _network_imports(m: Manifest) -> Iterator[Finding]:
    for module_file, line, module in network_imports(m):
        where = display(module_file)
        yield Finding(
            "PB107",
            m.name,
            module_file,
            line,
            f"{where} imports {module}: egress no dependency declares; declare it under "
            "dependencies and call it as ctx.<binding>",
        )


def network_imports(manifest: Manifest) -> list[tuple[Path, int, str]]:
    """(file, line, module) of each network client imported by the handler's module or the
    .py files beside it (its stand-ins, servers that are never deployed, excepted)."""
    handler = manifest.function.handler_file
    stand_ins = {d.stand_in.app_file.resolve() for d in manifest.dependencies if d.stand_in}
    beside = sorted(handler.parent.glob("*.py")) if handler.parent.is_dir() else []
    files = [f for f in beside if f.resolve() not in stand_ins]
    return [(f, line, module) for f in files for line, module in _imported_clients(f)]


def _imported_clients(module_file: Path) -> list[tuple[int, str]]:
    try:
        tree = ast.parse(module_file.read_text(encoding="utf-8"), str(module_file))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return []  # `portico check` reports a handler that does not import
    found = []
    imports = (n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom))
    for node in imports:
        for name in _imported_names(node):
            if _is_network_module(name):
                found.append((node.lineno, name))
                break
    return sorted(found)


def _imported_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement may bring in: `from urllib import request` names
    urllib.request as well as urllib."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0 and node.module:
        return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return []  # a relative import: the function's own modules


def _is_network_module(name: str) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:end]) in NETWORK_MODULES for end in range(1, len(parts) + 1))


_CHECKS: tuple[Callable[[Manifest], Iterator[Finding]], ...] = (
    _sync_dependencies,
    _published_queues,
    _dependency_budget,
    _long_timeout,
    _post_without_idempotency,
    _worker_without_retries,
    _network_imports,
)
