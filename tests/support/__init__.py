"""What the tests, the conformance suite and the bench share for real processes:

- `wait_until(predicate, timeout, what)`: the one poll loop; fails naming what it waited for
  and what it last saw.
- `Process(command, ...)`: a command in its own process group, its output kept (in memory or a
  log file), `wait_ready()` on a URL or a predicate, stopped SIGTERM-then-SIGKILL.

The standard library, httpx and psutil only: no pytest, nothing from portico or tests.conftest
(which rewrites the environment when imported), since `python -m bench` imports this too.
"""

from tests.support.process import Process, ProcessExited
from tests.support.wait import WaitTimeout, answers, wait_until

__all__ = ["Process", "ProcessExited", "WaitTimeout", "answers", "wait_until"]
