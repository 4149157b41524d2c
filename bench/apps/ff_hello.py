"""The trivial JSON handler on Google's functions-framework, as a WSGI app for gunicorn: the
bench serves it with the same gunicorn settings as the Portico runtime and bare Flask."""

from __future__ import annotations

from pathlib import Path

import functions_framework

app = functions_framework.create_app(  # type: ignore[no-untyped-call]
    target="hello", source=str(Path(__file__).with_name("ff_function.py"))
)
