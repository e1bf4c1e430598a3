-- crm.public.customers / consents (CONTRACTS.md)
CREATE TABLE customers (
    customer_id       text PRIMARY KEY,
    email             text,
    phone             text,
    -- IANA name, e.g. Europe/Berlin
    timezone          text,
    lat               double precision,
    lon               double precision,
    preferred_channel text CHECK (preferred_channel IN ('email', 'sms', 'push', 'in_app')),
    loyalty_tier      text CHECK (loyalty_tier IN ('member', 'silver', 'gold', 'platinum')),
    loyalty_points    integer,
    vip               boolean NOT NULL DEFAULT false
);

CREATE TABLE consents (
    customer_id text NOT NULL,
    channel     text NOT NULL CHECK (channel IN ('email', 'sms', 'push', 'in_app')),
    purpose     text NOT NULL CHECK (purpose IN ('marketing', 'transactional')),
    granted     boolean NOT NULL,
    updated_at  timestamptz,
    PRIMARY KEY (customer_id, channel, purpose)
);

-- FULL on customers: the engine decides "tier went up" / "became VIP" from the update's `before`
-- (journeys/engine.py), which DEFAULT leaves null on updates. Consents keep DEFAULT: their key
-- holds customer_id, channel and purpose, all a delete needs.
ALTER TABLE customers REPLICA IDENTITY FULL;
