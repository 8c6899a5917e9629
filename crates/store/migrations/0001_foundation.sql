-- Foundation: region tree, halls, departments, windows, staff, sessions, tokens, devices,
-- rate limits, job leases, the audit chain and settings.
-- Placeholders: {pk} is the auto-increment primary key, {blob} a byte column (see migrate.rs).
-- Times are BIGINT milliseconds since the Unix epoch; booleans are BIGINT 0/1.

CREATE TABLE regions (
    id {pk},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent_id BIGINT REFERENCES regions(id),
    path TEXT NOT NULL,
    closed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX regions_path ON regions (path);
CREATE INDEX regions_parent ON regions (parent_id);

CREATE TABLE halls (
    id {pk},
    region_id BIGINT NOT NULL REFERENCES regions(id),
    name TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    closed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX halls_region_name ON halls (region_id, name);

CREATE TABLE departments (
    id {pk},
    region_id BIGINT NOT NULL REFERENCES regions(id),
    name TEXT NOT NULL,
    closed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX departments_region_name ON departments (region_id, name);

CREATE TABLE windows (
    id {pk},
    hall_id BIGINT NOT NULL REFERENCES halls(id),
    number TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    department_id BIGINT REFERENCES departments(id),
    closed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX windows_hall_number ON windows (hall_id, number);

CREATE TABLE users (
    id {pk},
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    hall_id BIGINT REFERENCES halls(id),
    department_id BIGINT REFERENCES departments(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE role_grants (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    region_id BIGINT NOT NULL REFERENCES regions(id),
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX role_grants_unique ON role_grants (user_id, role, region_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE api_token_grants (
    token_id BIGINT NOT NULL REFERENCES api_tokens(id),
    role TEXT NOT NULL,
    region_id BIGINT NOT NULL REFERENCES regions(id)
);
CREATE INDEX api_token_grants_token ON api_token_grants (token_id);

CREATE TABLE devices (
    id {pk},
    hall_id BIGINT NOT NULL REFERENCES halls(id),
    window_id BIGINT REFERENCES windows(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    pairing_code_hash TEXT,
    pairing_expires_at BIGINT,
    token_hash TEXT UNIQUE,
    paired_at BIGINT,
    revoked_at BIGINT,
    last_seen_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX devices_hall ON devices (hall_id);

CREATE TABLE rate_limits (
    bucket TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE audit_heads (
    region_id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    head TEXT NOT NULL
);

CREATE TABLE audit_log (
    id {pk},
    region_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    digest TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE UNIQUE INDEX audit_log_chain ON audit_log (region_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
