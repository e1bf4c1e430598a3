-- inventory.public.products / stores / stock_levels (CONTRACTS.md)
CREATE TABLE products (
    sku        text PRIMARY KEY,
    product_id text,
    name       text,
    category   text,
    brand      text,
    price      numeric(12, 2)
);

CREATE TABLE stores (
    store_id text PRIMARY KEY,
    name     text,
    lat      double precision,
    lon      double precision
);

CREATE TABLE stock_levels (
    sku         text NOT NULL,
    -- 'online' or a store_id
    location_id text NOT NULL,
    quantity    integer NOT NULL,
    updated_at  timestamp,
    PRIMARY KEY (sku, location_id)
);

-- REPLICA IDENTITY stays DEFAULT (key columns only in `before`): these rows are keyed by their
-- own primary key downstream (the SKU stage, the store list), so a delete's key is all the job
-- needs, and stock_levels is the busiest table, where FULL would log every old row again.
