-- support.public.tickets (CONTRACTS.md)
CREATE TABLE tickets (
    ticket_id   text PRIMARY KEY,
    customer_id text NOT NULL,
    priority    text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status      text NOT NULL CHECK (status IN ('open', 'pending', 'solved', 'closed')),
    created_at  timestamp
);

-- FULL: a deleted ticket must reach its customer (an open VIP ticket suppresses marketing), and
-- under DEFAULT a delete's `before` carries only ticket_id.
ALTER TABLE tickets REPLICA IDENTITY FULL;
