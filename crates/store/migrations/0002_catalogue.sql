-- Service catalogue: base services with versions, regions' implementation lists (overrides only,
-- resolved live down the region tree), bundles (一件事), and uploaded workbooks awaiting import.
-- Dates (effective_from/until) are ISO TEXT 'YYYY-MM-DD', which sorts and compares correctly.

CREATE TABLE services (
    id {pk},
    owner_region_id BIGINT NOT NULL REFERENCES regions(id),
    base_code TEXT NOT NULL UNIQUE,
    -- Name and department of the newest version, for admin listings only; guides read versions.
    name TEXT NOT NULL,
    department_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX services_owner ON services (owner_region_id);

-- content is JSON with the record (ServiceRecord), its materials and its form (FormDefinition).
-- A published or withdrawn version is never edited (a case pins it); only drafts change.
CREATE TABLE service_versions (
    id {pk},
    service_id BIGINT NOT NULL REFERENCES services(id),
    number BIGINT NOT NULL,
    status TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    effective_until TEXT,
    content TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    published_at BIGINT
);
CREATE UNIQUE INDEX service_versions_number ON service_versions (service_id, number);
CREATE INDEX service_versions_status ON service_versions (status, service_id);

-- One row per region that says something about a service: enabled is NULL (inherit), 1 or 0;
-- overrides is JSON of ImplementationOverrides (a field absent or in mode "inherited" inherits).
CREATE TABLE implementations (
    id {pk},
    region_id BIGINT NOT NULL REFERENCES regions(id),
    service_id BIGINT NOT NULL REFERENCES services(id),
    enabled BIGINT,
    overrides TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX implementations_region_service ON implementations (region_id, service_id);
CREATE INDEX implementations_service ON implementations (service_id);

CREATE TABLE bundles (
    id {pk},
    owner_region_id BIGINT NOT NULL REFERENCES regions(id),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    themes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE bundle_members (
    bundle_id BIGINT NOT NULL REFERENCES bundles(id),
    service_id BIGINT NOT NULL REFERENCES services(id),
    position BIGINT NOT NULL,
    PRIMARY KEY (bundle_id, service_id)
);

-- Bumped in every catalogue write, so that every process can tell whether its cached search index
-- is still current with one cheap read (app servers are stateless; the truth is here).
CREATE TABLE catalogue_state (
    id BIGINT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO catalogue_state (id, generation) VALUES (1, 0);

-- An uploaded workbook kept between its preview and its commit (shared by every app server).
CREATE TABLE catalogue_uploads (
    id {pk},
    region_id BIGINT NOT NULL REFERENCES regions(id),
    user_id BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    content {blob} NOT NULL,
    created_at BIGINT NOT NULL,
    committed_at BIGINT
);
