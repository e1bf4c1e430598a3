-- orders.public.orders / shipments (CONTRACTS.md)
CREATE TABLE orders (
    order_id    text PRIMARY KEY,
    customer_id text NOT NULL,
    cart_id     text,
    status      text NOT NULL CHECK (status IN ('placed', 'paid', 'cancelled', 'returned')),
    total       numeric(12, 2),
    currency    text,
    created_at  timestamp
);

CREATE TABLE shipments (
    shipment_id        text PRIMARY KEY,
    order_id           text NOT NULL,
    customer_id        text NOT NULL,
    status             text NOT NULL CHECK (status IN ('created', 'in_transit', 'delayed',
                           'out_for_delivery', 'delivered', 'exception', 'returned')),
    estimated_delivery date,
    delivered_at       timestamp,
    carrier            text
);

-- FULL: the job routes these rows by customer_id, which is not their key. Under DEFAULT a
-- delete's `before` holds only order_id / shipment_id, so the delete could reach no customer.
ALTER TABLE orders REPLICA IDENTITY FULL;
ALTER TABLE shipments REPLICA IDENTITY FULL;
