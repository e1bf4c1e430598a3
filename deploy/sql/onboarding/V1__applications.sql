-- onboarding.public.applications (CONTRACTS.md)
CREATE TABLE applications (
    application_id      text PRIMARY KEY,
    customer_id         text NOT NULL,
    product             text,
    -- e.g. DE, GB, US-NY
    jurisdiction        text,
    verification_status text NOT NULL CHECK (verification_status IN ('started', 'pending_documents',
                            'under_review', 'verified', 'rejected')),
    -- a JSON array kept as text, e.g. ["proof_of_address"]
    missing_documents   text,
    updated_at          timestamp
);

-- FULL: routed by customer_id, which is not the key (see orders).
ALTER TABLE applications REPLICA IDENTITY FULL;
