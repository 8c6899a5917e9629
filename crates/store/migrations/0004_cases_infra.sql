-- Infrastructure of cases: region signing keys and e-certificates, the notification outbox,
-- and uploaded material files. Personal data is stored sealed (AES-256-GCM, see
-- crates/web/src/crypto.rs) or as keyed look-up hashes; never in clear.

-- Ed25519 keys per region. The private key is sealed with the data key, which is not in the
-- database, so database access alone cannot sign. A new key retires the current one; retired
-- public keys stay published so that old certificates still verify.
CREATE TABLE region_signing_keys (
    id {pk},
    region_id BIGINT NOT NULL REFERENCES regions(id),
    key_id TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    encrypted_private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE INDEX region_signing_keys_region ON region_signing_keys (region_id);
-- At most one current key per region.
CREATE UNIQUE INDEX region_signing_keys_current ON region_signing_keys (region_id) WHERE retired_at IS NULL;

-- Certificate numbers: region code, year, and a per-region, per-year sequence.
CREATE TABLE certificate_counters (
    region_id BIGINT NOT NULL,
    year BIGINT NOT NULL,
    next_seq BIGINT NOT NULL,
    PRIMARY KEY (region_id, year)
);

CREATE TABLE certificates (
    id {pk},
    number TEXT NOT NULL UNIQUE,
    region_id BIGINT NOT NULL REFERENCES regions(id),
    case_ref TEXT NOT NULL,
    document_type TEXT NOT NULL,
    -- Keyed hash of the holder's ID number: finds documents already issued to the same person.
    holder_hash TEXT NOT NULL,
    payload TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT
);
CREATE INDEX certificates_holder ON certificates (holder_hash, document_type);
CREATE INDEX certificates_case ON certificates (case_ref);

-- Messages to send, written in the same transaction as the event that causes them.
-- channel: sms | email | dev. status: queued | sending | sent | failed.
CREATE TABLE outbox (
    id {pk},
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    recipient_masked TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    sent_via TEXT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_created ON outbox (created_at);

-- Uploaded material files; the bytes live in the shared blob directory under their SHA-256.
CREATE TABLE uploads (
    id {pk},
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    mime TEXT NOT NULL,
    original_name TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX uploads_sha256 ON uploads (sha256);
