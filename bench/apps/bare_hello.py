"""The runtime baseline: the trivial JSON handler in bare Flask (served by gunicorn with the
Portico runtime's settings)."""

from __future__ import annotations

from flask import Flask

app = Flask("bare")


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
