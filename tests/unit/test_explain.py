"""`portico explain NAME`: a function's whole path from the manifests, queues followed to their
workers (loops shown once), its boundary findings, and an unknown name refused."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from portico.cli import main
from tests.conftest import FUNCTIONS_DIR

HANDLERS = "def handle(request, ctx):\n    return {}\n\n\ndef work(message, ctx):\n    pass\n"


def explain(functions_dir: Path, name: str) -> Result:
    return CliRunner().invoke(main, ["explain", name, "--functions-dir", str(functions_dir)])


def write(directory: Path, manifests: dict[str, str]) -> Path:
    (directory / "src").mkdir(parents=True, exist_ok=True)
    (directory / "src" / "app.py").write_text(HANDLERS)
    for name, text in manifests.items():
        (directory / f"{name}.yaml").write_text(text)
    return directory


def words_in_order(text: str, *words: str) -> bool:
    at = 0
    for word in words:
        at = text.find(word, at)
        if at < 0:
            return False
        at += len(word)
    return True


def test_submit_claim_from_the_gateway_to_its_worker() -> None:
    result = explain(FUNCTIONS_DIR, "submit-claim")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("submit-claim: POST /claims (")
    assert "  auth             API key (apikey header)\n" in out
    assert "  rate limit       10/second, 600/minute per consumer (429 above)\n" in out
    assert "  idempotency      Idempotency-Key (by the runtime), answers kept 24 h\n" in out
    assert "  timeout          25 s (the function's 20 s + 5 s margin)\n" in out
    assert "  policyId         required string, at most 1024 characters\n" in out
    assert "  description      optional string, at most 2000 characters\n" in out
    assert "  deadline         20 s per request" in out
    assert words_in_order(
        out,
        "effects",
        "store            claims (ctx.claims_store): one transaction, statement timeout 20 s",
        "queue            claim-review-jobs (ctx.workflow_queue): sent with the commit",
        "    worker         review-claim: 3 retries, 30 s per job; dead letters: "
        "portico dlq list --queue claim-review-jobs",
        "      store        claims (ctx.claims_store): one transaction, statement timeout 30 s",
        "boundaries",
        "none",
    )


def test_a_worker_says_who_feeds_it() -> None:
    out = explain(FUNCTIONS_DIR, "review-claim").output
    assert out.startswith("review-claim: worker of queue claim-review-jobs (")
    assert "  fed by           submit-claim (POST /claims)\n" in out
    assert "past it the job fails and is retried" in out


def test_a_jwt_route_names_its_audience() -> None:
    out = explain(FUNCTIONS_DIR, "claim-status").output
    assert "  auth             JWT (Authorization: Bearer), audience portico-claims\n" in out


def test_dependencies_show_their_variable_and_share_of_the_deadline(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pay": "api: {route: POST /pay, idempotency: false}\n"
            "function: {handler: src/app.handle, timeout_seconds: 8}\n"
            "dependencies:\n"
            "  payments: {url_env: PAY_URL, url: 'http://pay:80', timeout_seconds: 2, "
            "retries: 1}\n"
            "lint: {allow: {PB105: the provider dedupes on our order id}}\n"
        },
    )
    out = explain(tmp_path, "pay").output
    assert (
        "  dependency       payments (ctx.payments, $PAY_URL, default http://pay:80): 2 s per "
        "call, 1 retries (safe requests only); up to 4 s, 50% of the 8 s deadline\n"
    ) in out
    assert "  idempotency      off (api.idempotency: false)\n" in out
    assert "PB105" in out and "(allowed: the provider dedupes on our order id)" in out


def test_queues_are_followed_through_workers_and_a_loop_is_shown_once(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "start": "api: {route: POST /start}\nfunction: {handler: src/app.handle}\n"
            "resources: {a_queue: a}\n",
            "first": "trigger: {queue: a}\nfunction: {handler: src/app.work}\n"
            "resources: {b_queue: b, orphan_queue: nobody}\n",
            "second": "trigger: {queue: b, retries: 0}\nfunction: {handler: src/app.work}\n"
            "resources: {a_queue: a}\n",
        },
    )
    result = explain(tmp_path, "start")
    assert result.exit_code == 0, result.output
    assert words_in_order(
        result.output,
        "  queue            a (ctx.a_queue)",
        "    worker         first: 3 retries",
        "      queue        b (ctx.b_queue)",
        "        worker     second: 0 retries",
        "          queue    a (ctx.a_queue)",
        "            worker first (shown above: the queues form a loop)",
        "      queue        nobody (ctx.orphan_queue)",
        "        worker     none: no function's trigger.queue is this queue",
    )
    worker = explain(tmp_path, "second").output
    assert "  fed by           first (worker of a)\n" in worker
    assert "PB106" in worker and "retries is 0" in worker


def test_an_unknown_name_is_a_usage_error_listing_the_functions() -> None:
    result = explain(FUNCTIONS_DIR, "submit-claims")
    assert result.exit_code == 2
    assert "no function named 'submit-claims'" in result.output
    assert "submit-claim" in result.output.split("(functions: ", 1)[1]


def test_help_says_what_it_prints() -> None:
    result = CliRunner().invoke(main, ["explain", "--help"])
    assert result.exit_code == 0
    assert "explain [OPTIONS] NAME" in result.output
    assert "what the gateway does" in result.output
    assert "portico explain submit-claim" in result.output
