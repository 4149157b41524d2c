"""`python -m bench.profile`: where the time goes, for the targets the bench reports missed.

- `runtime` / `claims`: py-spy samples the serving process of the trivial function (hello) or
  of submit-claim (POST /claims with an Idempotency-Key) while the load generator drives it,
  only the thread holding the GIL, i.e. where the CPU goes; prints the frames by share of
  samples and writes a flame graph (bench/results/profile-<what>.svg).
- `startup`: `python -X importtime` of what `portico serve` imports before it can answer;
  prints the import time of each package (its modules' own time, summed).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.harness import BENCH_FUNCTIONS, CLAIMS_FUNCTIONS, QUICK, Bench, local
from bench.processes import ROOT, portico
from bench.scenarios import AS_ALICE, CLAIM
from portico import headers
from portico.local.ports import free_port as port

RESULTS = ROOT / "bench" / "results"
PORTICO_FRAMES = re.compile(
    r"\((portico|flask|werkzeug|gunicorn|logging|concurrent|json|psycopg|redis|rq|jsonschema|claims)\b"
)


def py_spy() -> str:
    return str(Path(sys.executable).with_name("py-spy"))


def frame_shares(folded: str, top: int) -> list[tuple[float, str]]:
    """Inclusive share of samples per frame (function and file), from py-spy's raw output."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        frames = {re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")}
        for frame in frames:
            inclusive[frame] += int(count)
    shares = [(n / total, frame) for frame, n in inclusive.most_common()]
    return [(share, frame) for share, frame in shares if PORTICO_FRAMES.search(frame)][:top]


def profile_function(what: str, seconds: float, top: int) -> None:
    """Sample the serving process of hello (`runtime`) or submit-claim (`claims`) under load."""
    function = "hello" if what == "runtime" else "submit-claim"
    with tempfile.TemporaryDirectory(prefix="portico-profile-") as work_dir:
        bench = Bench(dataclasses.replace(QUICK, warmup=0.0, duration=seconds), Path(work_dir))
        try:
            bench.start()
            server_port = port()
            server = bench.server(
                function,
                portico("serve", function, "--port", str(server_port)),
                bench.env(BENCH_FUNCTIONS if what == "runtime" else CLAIMS_FUNCTIONS),
                local(server_port, "/readyz"),
            )
            server.start()
            serving_pid = server.processes()[-1].pid
            raw, svg = Path(work_dir) / "profile.folded", RESULTS / f"profile-{what}.svg"
            RESULTS.mkdir(parents=True, exist_ok=True)
            record = [py_spy(), "record", "--gil", "--pid", str(serving_pid), "--duration"]
            bench.say(f"profiling {function} under load for {seconds:.0f} s (py-spy)")
            spies = [
                subprocess.Popen([*record, str(int(seconds)), "--format", "raw", "-o", str(raw)]),
                subprocess.Popen([*record, str(int(seconds)), "-o", str(svg)]),
            ]
            if what == "runtime":
                result = bench.load(local(server_port, "/hello"), server=[server])
            else:
                result = bench.load(
                    local(server_port, "/claims"),
                    method="POST",
                    body=CLAIM,
                    headers=AS_ALICE,
                    unique_header=headers.IDEMPOTENCY_KEY,
                    server=[server],
                )
            for spy in spies:
                spy.wait(60)
            print(f"{result['throughput']:.0f} req/s while sampled (py-spy slows the process)")
            print("share of GIL-holding samples, by frame (inclusive):")
            for share, frame in frame_shares(raw.read_text(), top):
                print(f"  {share:6.1%}  {frame}")
            print(f"flame graph: {svg.relative_to(ROOT)}")
        finally:
            bench.close()


def profile_startup(top: int) -> None:
    code = "import portico.cli, portico.runtime.serve, portico.runtime.app"
    finished = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    by_package: Counter[str] = Counter()
    for line in finished.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        self_microseconds = int(parts[0].rsplit(":", 1)[1])
        by_package[parts[2].strip().split(".")[0]] += self_microseconds
    total = sum(by_package.values())
    print(f"imports before `portico serve` can start: {total / 1000:.0f} ms; by package:")
    for name, microseconds in by_package.most_common(top):
        print(f"  {microseconds / 1000:6.1f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("what", choices=("runtime", "claims", "startup"))
    parser.add_argument("--seconds", type=float, default=10.0, help="How long to sample.")
    parser.add_argument("--top", type=int, default=30, help="How many lines to print.")
    args = parser.parse_args()
    if args.what in ("runtime", "claims"):
        profile_function(args.what, args.seconds, args.top)
    else:
        profile_startup(args.top)


if __name__ == "__main__":
    main()
