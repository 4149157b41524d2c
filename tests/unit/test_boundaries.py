"""The boundary lint: each rule fires where its boundary is crossed and not one step short of
it, names the function and the line, and `portico check` fails on it unless allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from portico.cli import main
from portico.manifest import Manifest, load_all
from portico.manifest.boundaries import RULES, RULES_BY_CODE, Finding, findings, review
from tests.conftest import FUNCTIONS_DIR

HANDLERS = (
    "def handle(request, ctx):\n    return {}\n\n\ndef work(message, ctx):\n    return None\n"
)
PAYMENTS = "payments: {url: 'http://payments:8080', timeout_seconds: 2}"
FRAUD = "fraud: {url: 'http://fraud:8080', timeout_seconds: 1}"


def manifests(tmp_path: Path, *texts: str, module: str = HANDLERS) -> list[Manifest]:
    (tmp_path / "src").mkdir(parents=True, exist_ok=True)
    (tmp_path / "src" / "app.py").write_text(module)
    for index, text in enumerate(texts):
        (tmp_path / f"fn-{index}.yaml").write_text(text)
    return load_all(tmp_path)


def http(route: str = "POST /orders", timeout: int = 10, extra: str = "") -> str:
    return (
        f"api:\n  route: {route}\n"
        f"function:\n  handler: src/app.handle\n  timeout_seconds: {timeout}\n" + extra
    )


def worker(retries: int, extra: str = "") -> str:
    return (
        f"trigger:\n  queue: jobs\n  retries: {retries}\n"
        "function:\n  handler: src/app.work\n" + extra
    )


def dependencies(*entries: str) -> str:
    return "dependencies:\n" + "".join(f"  {entry}\n" for entry in entries)


def queues(count: int) -> str:
    return "resources:\n" + "".join(f"  q{n}_queue: q{n}\n" for n in range(count))


def codes(found: list[Finding]) -> list[str]:
    return [finding.code for finding in found]


# (code, a manifest crossing the boundary, the line of the finding, words of its message,
#  the same manifest one step short of the boundary)
CASES = [
    (
        "PB101",
        http(extra=dependencies(PAYMENTS, FRAUD)),
        6,
        "calls 2 dependencies (payments, fraud) while its client waits",
        http(extra=dependencies(PAYMENTS)),
    ),
    (
        "PB102",
        http(extra=queues(3)),
        6,
        "publishes to 3 queues (q0, q1, q2)",
        http(extra=queues(2)),
    ),
    (
        "PB103",
        http(timeout=6, extra=dependencies("payments: {timeout_seconds: 2, retries: 2}")),
        7,
        "payments can take 6 s (2 s x 3 attempts), not less than the function's timeout_seconds",
        http(timeout=7, extra=dependencies("payments: {timeout_seconds: 2, retries: 2}")),
    ),
    (
        "PB103",
        http(
            timeout=3,
            extra=dependencies(PAYMENTS, FRAUD) + "lint: {allow: {PB101: two on purpose}}\n",
        ),
        6,
        "its dependencies together can take 3 s",
        http(
            timeout=4,
            extra=dependencies(PAYMENTS, FRAUD) + "lint: {allow: {PB101: two on purpose}}\n",
        ),
    ),
    ("PB104", http(timeout=31), 5, "timeout_seconds is 31, above the 30 s", http(timeout=30)),
    (
        "PB105",
        http().replace("  route: POST /orders\n", "  route: POST /orders\n  idempotency: false\n"),
        3,
        "POST /orders turns idempotency off",
        http().replace("  route: POST /orders\n", "  route: POST /orders\n  idempotency: true\n"),
    ),
    ("PB106", worker(0), 3, "retries is 0: one failure sends a message of jobs", worker(1)),
]


@pytest.mark.parametrize(("code", "text", "line", "words", "short"), CASES)
def test_each_rule_fires_at_its_boundary_and_not_one_step_short(
    tmp_path: Path, code: str, text: str, line: int, words: str, short: str
) -> None:
    [finding] = [f for f in findings(manifests(tmp_path / "over", text)) if f.code == code]
    assert (finding.code, finding.function, finding.line) == (code, "fn-0", line)
    assert finding.path == (tmp_path / "over" / "fn-0.yaml").resolve()
    assert words in finding.message
    assert code not in codes(findings(manifests(tmp_path / "short", short)))


def test_every_rule_has_a_case_and_an_explanation() -> None:
    tested = {case[0] for case in CASES} | {"PB107"}  # PB107: the import tests below
    assert tested == set(RULES_BY_CODE)
    for rule in RULES:
        text = rule.explain()
        assert text.startswith(f"{rule.code} {rule.name}: {rule.summary}")
        assert f"lint: {{allow: {{{rule.code}:" in text


def test_rules_about_the_request_path_leave_workers_alone(tmp_path: Path) -> None:
    extra = dependencies(PAYMENTS, FRAUD) + queues(4)
    assert findings(manifests(tmp_path, worker(3, extra))) == []


def test_a_dependency_as_long_as_the_function_is_left_to_the_timeout_chain(tmp_path: Path) -> None:
    text = http(timeout=2, extra=dependencies(PAYMENTS))
    assert findings(manifests(tmp_path, text)) == []  # `portico check`'s own error


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import requests\n", "requests"),
        ("import os, urllib.request\n", "urllib.request"),
        ("from urllib import request\n", "urllib.request"),
        ("from http import client as http_client\n", "http.client"),
        ("from httpx import Client\n", "httpx"),
        ("import socket\n", "socket"),
        ("def send():\n    import smtplib\n", "smtplib"),
        ("from requests.adapters import HTTPAdapter\n", "requests.adapters"),
    ],
)
def test_a_handler_module_importing_a_network_client_is_found(
    tmp_path: Path, source: str, module: str
) -> None:
    [finding] = findings(manifests(tmp_path, http(), module=source + HANDLERS))
    assert (finding.code, finding.function) == ("PB107", "fn-0")
    assert finding.path == tmp_path / "src" / "app.py"
    assert finding.line == source.count("\n")
    assert f"imports {module}" in finding.message


@pytest.mark.parametrize(
    "source",
    [
        "import socketserver\nimport json\n",
        "from urllib.parse import urlencode\nfrom http import HTTPStatus\n",
        "from . import requests\n",
        "# import requests\nTEXT = 'import httpx'\n",
    ],
)
def test_what_opens_no_connection_is_not_a_network_client(tmp_path: Path, source: str) -> None:
    assert findings(manifests(tmp_path, http(), module=source + HANDLERS)) == []


def test_the_modules_beside_the_handler_are_read_but_not_its_stand_in(tmp_path: Path) -> None:
    stand_in = "payments: {timeout_seconds: 2, stand_in: src/fake_payments.app}"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "fake_payments.py").write_text("import socket\napp = None\n")
    loaded = manifests(tmp_path, http(extra=dependencies(stand_in)))
    assert findings(loaded) == []
    (tmp_path / "src" / "helpers.py").write_text("\nimport aiohttp\n")
    [finding] = findings(loaded)
    assert (finding.path.name, finding.line) == ("helpers.py", 2)


def test_an_allowed_finding_is_kept_with_its_reason(tmp_path: Path) -> None:
    allow = "lint:\n  allow:\n    PB104: a nightly export; its one client waits 120 s\n"
    verdict = review(manifests(tmp_path, http(timeout=60, extra=allow)))
    assert verdict.failures == []
    [(finding, reason)] = verdict.allowed
    assert finding.code == "PB104" and reason == "a nightly export; its one client waits 120 s"
    assert verdict.unused == verdict.unknown == []


def test_an_allow_entry_that_silences_nothing_is_noted(tmp_path: Path) -> None:
    allow = "lint:\n  allow:\n    PB101: just in case\n    PB199: a typo\n"
    verdict = review(manifests(tmp_path, http(extra=allow)))
    assert verdict.failures == [] and verdict.allowed == []
    [unused] = verdict.unused
    assert (unused.code, unused.function, unused.line, unused.reason) == (
        "PB101",
        "fn-0",
        8,
        "just in case",
    )
    assert [entry.code for entry in verdict.unknown] == ["PB199"]


def test_an_allow_silences_only_its_own_function(tmp_path: Path) -> None:
    allowed = http(timeout=60, extra="lint: {allow: {PB104: long on purpose}}\n")
    other = http(route="POST /other", timeout=60)
    verdict = review(manifests(tmp_path, allowed, other))
    assert [(f.function, f.code) for f in verdict.failures] == [("fn-1", "PB104")]
    assert [(f.function, f.code) for f, _ in verdict.allowed] == [("fn-0", "PB104")]


def test_the_shipped_functions_are_clean() -> None:
    verdict = review(load_all(FUNCTIONS_DIR))
    assert [str(f) for f in verdict.failures] == []
    assert verdict.unused == verdict.unknown == []


# --- portico check --------------------------------------------------------------------------


def check(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", "--functions-dir", str(tmp_path), *args])
    return result.exit_code, result.stdout, result.stderr


def test_check_fails_on_a_finding_and_names_the_rule(tmp_path: Path) -> None:
    manifests(tmp_path, worker(0))
    code, out, err = check(tmp_path)
    assert code == 1
    assert "boundaries: 1 finding(s), 0 allowed" in out
    [line] = [line for line in err.splitlines() if "PB106" in line]
    assert line.startswith("error: ") and "fn-0.yaml:3: PB106 fn-0: retries is 0" in line


def test_check_passes_an_allowed_finding_and_prints_its_reason(tmp_path: Path) -> None:
    manifests(tmp_path, worker(0, "lint: {allow: {PB106: an operator reviews each failure}}\n"))
    code, out, err = check(tmp_path)
    assert code == 0, err
    assert "boundaries: 0 finding(s), 1 allowed" in out
    assert "allowed: " in out and "(lint.allow: an operator reviews each failure)" in out


def test_check_notes_a_needless_allow_and_fails_an_unknown_code(tmp_path: Path) -> None:
    manifests(tmp_path, worker(3, "lint: {allow: {PB106: just in case}}\n"))
    code, out, _ = check(tmp_path)
    assert code == 0
    assert "note: " in out and "lint.allow.PB106: PB106 does not fire for fn-0" in out
    manifests(tmp_path, worker(3, "lint: {allow: {PB999: a typo}}\n"))
    code, _, err = check(tmp_path)
    assert code == 1 and "lint.allow.PB999: no rule PB999" in err


def test_check_explain_prints_the_rule_and_refuses_an_unknown_code(tmp_path: Path) -> None:
    code, out, _ = check(tmp_path, "--explain", "pb101")
    assert code == 0
    assert out.startswith("PB101 one-sync-dependency: ")
    assert "move the others to a worker" in out
    code, _, err = check(tmp_path, "--explain", "PB100")
    assert code == 2
    assert "no rule 'PB100'; the rules: PB101, PB102, PB103, PB104, PB105, PB106, PB107" in err
