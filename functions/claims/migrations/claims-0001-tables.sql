-- The claims app: policies (owned by consumers), claims, and each claim's status history.
CREATE TABLE policies (
    policy_id   text PRIMARY KEY,
    owner       text NOT NULL,
    status      text NOT NULL CHECK (status IN ('active', 'inactive')),
    holder_name text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX policies_owner ON policies (owner);

CREATE TABLE claims (
    claim_id        uuid PRIMARY KEY,
    owner           text NOT NULL,
    policy_id       text NOT NULL REFERENCES policies,
    document_key    text NOT NULL,
    description     text,
    status          text NOT NULL DEFAULT 'submitted'
                    CHECK (status IN ('submitted', 'in_review', 'approved', 'rejected')),
    decision_reason text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Serves GET /claims: a consumer's claims, newest first, keyset-paged.
CREATE INDEX claims_owner_newest ON claims (owner, created_at DESC, claim_id DESC);

CREATE TABLE claim_events (
    event_id    bigserial PRIMARY KEY,
    claim_id    uuid NOT NULL REFERENCES claims ON DELETE CASCADE,
    from_status text,
    to_status   text NOT NULL,
    reason      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX claim_events_claim ON claim_events (claim_id, event_id);
