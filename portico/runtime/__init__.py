"""The request path inside a function: the handler contract's adapter (`handler`), the
bindings a handler gets (`resources`), the Flask app that validates, runs and answers
(`app`), Idempotency-Key (`idempotency`), health and drain (`health`), and the gunicorn server
(`serve`). This is what a function image runs.

May import: the top-level modules, `portico.manifest` and `portico.state`.
"""
