"""The queue path: RQ workers that run queue-triggered functions effectively once
(`worker`), the relay that delivers what the request path's fast push did not (`relay`), and
the dead-letter registry with replay (`dlq`).

May import: the top-level modules, `portico.manifest`, `portico.state` and `portico.runtime`
(a worker runs its handler through the same contract as an HTTP function).
"""
