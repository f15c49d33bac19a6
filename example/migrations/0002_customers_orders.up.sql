-- The application's tables: customers and their orders.  In a Django
-- project these would be the app's own models; the reports below only read
-- them.
CREATE TABLE customers (
    id         bigint PRIMARY KEY,
    name       text NOT NULL,
    region     text NOT NULL CHECK (region IN ('emea', 'amer', 'apac', 'latam')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- customer_id is nullable: guest checkouts have no customer, and the
-- report tests insert orders without one.
CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    customer_id bigint REFERENCES customers (id),
    created_at  timestamptz NOT NULL,
    total_cents bigint NOT NULL,
    status      text NOT NULL CHECK (status IN ('paid', 'pending', 'failed', 'refunded'))
);

-- The reports select orders by time.
CREATE INDEX orders_created_at_idx ON orders (created_at);
-- Deleting a customer checks its orders; per-customer lookups use it too.
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
