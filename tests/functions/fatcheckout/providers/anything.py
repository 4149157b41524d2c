"""A stand-in for every system the fat checkout calls: any POST is 201 and counted."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask

app = Flask(__name__)
lock = threading.Lock()
calls: list[str] = []


@app.post("/<path:path>")
def accept(path: str) -> tuple[dict[str, Any], int]:
    with lock:
        calls.append(f"/{path}")
    return {"accepted": f"/{path}", "score": 0.1}, 201


@app.get("/calls")
def count() -> dict[str, Any]:
    with lock:
        return {"count": len(calls), "calls": list(calls)}
