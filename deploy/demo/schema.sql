-- The quickstart's demo schema (scripts/quickstart.sh). Safe to run again: it creates only what is missing.

CREATE TABLE IF NOT EXISTS customers (
    id        int PRIMARY KEY,
    email     text NOT NULL UNIQUE,
    name      text NOT NULL,
    tenant_id int NOT NULL
);
-- Updates and deletes carry the whole old row, so an email change also invalidates the old email's key.
ALTER TABLE customers REPLICA IDENTITY FULL;

CREATE TABLE IF NOT EXISTS orders (
    id          bigint PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    total       numeric(10, 2) NOT NULL
);
ALTER TABLE orders REPLICA IDENTITY FULL;

INSERT INTO customers (id, email, name, tenant_id) VALUES
    (1, 'ann@example.com', 'Ann', 1),
    (2, 'bob@example.com', 'Bob', 1),
    (3, 'cy@example.com', 'Cy', 2)
ON CONFLICT (id) DO NOTHING;

INSERT INTO orders (id, customer_id, total) VALUES (100, 1, 12.50), (101, 3, 99.00)
ON CONFLICT (id) DO NOTHING;

-- The freshness probe's canary table (Invalidator:Probe, docs/freshness.md): the worker updates its row every 5 s
-- and measures how long each region takes to drop the canary.
CREATE TABLE IF NOT EXISTS public.invalidator_canary (worker text PRIMARY KEY, seq bigint NOT NULL, written_at timestamptz NOT NULL);

-- The worker streams this publication (Invalidator:Postgres:Publication).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'invalidator_demo') THEN
        CREATE PUBLICATION invalidator_demo FOR TABLE customers, orders, public.invalidator_canary;
    ELSIF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = 'invalidator_demo' AND tablename = 'invalidator_canary') THEN
        ALTER PUBLICATION invalidator_demo ADD TABLE public.invalidator_canary;
    END IF;
END
$$;
