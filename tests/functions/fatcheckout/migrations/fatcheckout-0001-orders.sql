-- The fat checkout's one table (tests only).
CREATE TABLE fat_orders (
    order_id   uuid PRIMARY KEY,
    owner      text NOT NULL,
    email      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
