-- The application's tables: customers and their orders.
CREATE TABLE customers (
    id         bigint PRIMARY KEY,
    name       text NOT NULL,
    region     text NOT NULL CHECK (region IN ('emea', 'amer', 'apac', 'latam')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    customer_id bigint REFERENCES customers (id),
    created_at  timestamptz NOT NULL,
    total_cents bigint NOT NULL,
    status      text NOT NULL CHECK (status IN ('paid', 'pending', 'failed', 'refunded'))
);

CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
