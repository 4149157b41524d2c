CREATE TABLE test_writes (
    id   bigserial PRIMARY KEY,
    note text NOT NULL,
    at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
