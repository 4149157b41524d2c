"""The dev console, served by the dev gateway at `/_portico/` (never rendered into a cluster's
config): the functions with their routes, policies and state, the live requests, a request's
trace as a waterfall from gateway to worker, the queues, the dead letters (with replay) and the
outbox backlog.

`traces` keeps the spans the processes export, `activity` the gateway's latest requests,
`panels` reads the platform's state, `forward` passes spans on to the user's collector, and `web`
serves the page, its JSON and the OTLP receiver. The page (`static/`) is plain HTML, CSS and
JavaScript: no build step, nothing fetched from elsewhere.

May import: manifest, policies, state, queueing, local (needs the `local` extra).
"""
