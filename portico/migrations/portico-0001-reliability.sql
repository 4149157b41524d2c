-- Portico's own tables: the transactional outbox, the record of processed queue messages
-- (idempotent workers), and stored responses for Idempotency-Key requests.

-- A message lives here from the handler's commit until it is on its Redis queue.
CREATE TABLE portico_outbox (
    message_id text PRIMARY KEY,
    queue      text NOT NULL,
    message    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX portico_outbox_created ON portico_outbox (created_at);

-- A worker's effects and this row commit together: a redelivered message finds its row.
CREATE TABLE portico_processed_messages (
    consumer     text NOT NULL,
    message_id   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, message_id)
);
CREATE INDEX portico_processed_messages_at ON portico_processed_messages (processed_at);

-- The first response to an Idempotency-Key, scoped to the consumer, replayed on retries.
CREATE TABLE portico_idempotency_keys (
    consumer    text NOT NULL,
    key         text NOT NULL,
    fingerprint text NOT NULL,
    status      integer NOT NULL,
    headers     jsonb NOT NULL,
    body        jsonb,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (consumer, key)
);
CREATE INDEX portico_idempotency_keys_expiry ON portico_idempotency_keys (expires_at);
