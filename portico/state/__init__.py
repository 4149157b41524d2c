"""Where the authoritative change and its hand-off are written: the transaction (one per
request or job, with its deadline), the stores, the queue publisher, the outbox and the job
envelope it carries.

A message is an outbox row in the same transaction as the state change it follows from, so
the response is the commit and nothing acknowledged is lost (`outbox`).

May import: the top-level modules only.
"""
