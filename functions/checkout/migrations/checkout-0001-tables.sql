-- The checkout app: the catalogue, orders (with their payment authorization), and one table
-- per downstream effect of an order, each keyed by the order so it lands at most once.
CREATE TABLE products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents > 0)
);

CREATE TABLE orders (
    order_id         uuid PRIMARY KEY,
    owner            text NOT NULL,
    email            text NOT NULL,
    shipping_address jsonb NOT NULL,
    items            jsonb NOT NULL,
    total_cents      integer NOT NULL,
    currency         text NOT NULL,
    status           text NOT NULL DEFAULT 'pending_payment'
                     CHECK (status IN ('pending_payment', 'authorized')),
    authorization_id text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX orders_owner_newest ON orders (owner, created_at DESC);

CREATE TABLE shipment_labels (
    order_id        uuid PRIMARY KEY REFERENCES orders ON DELETE CASCADE,
    tracking_number text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE order_emails (
    order_id   uuid PRIMARY KEY REFERENCES orders ON DELETE CASCADE,
    message_id text NOT NULL,  -- the mail relay's id for the message
    sent_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE order_analytics (
    order_id    uuid PRIMARY KEY REFERENCES orders ON DELETE CASCADE,
    total_cents integer NOT NULL,
    item_count  integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE loyalty_points (
    order_id   uuid PRIMARY KEY REFERENCES orders ON DELETE CASCADE,
    owner      text NOT NULL,
    points     integer NOT NULL,
    awarded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX loyalty_points_owner ON loyalty_points (owner);
