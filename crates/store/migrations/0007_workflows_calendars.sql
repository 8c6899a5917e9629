-- Workflow definitions (审批流程) and working-day calendars (工作日历), both inherited live down the
-- region tree: a row holds only what a region itself says; the store resolves the rest at read time.

-- Every saved workflow definition, immutable once written (a running case keeps its version).
-- subject is 'service' (services.id) or 'bundle' (bundles.id); number counts the saves of one
-- region for one subject: 1, 2, 3 ...; definition is the WorkflowDefinition as JSON.
CREATE TABLE workflow_versions (
    id {pk},
    subject TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    region_id BIGINT NOT NULL REFERENCES regions(id),
    number BIGINT NOT NULL,
    definition TEXT NOT NULL,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE UNIQUE INDEX workflow_versions_number ON workflow_versions (subject, subject_id, region_id, number);

-- Which of its versions a region has in force for a subject. No row: the region inherits the
-- nearest definition above it, or the generated default; a reset deletes the row.
CREATE TABLE workflow_in_force (
    subject TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    region_id BIGINT NOT NULL REFERENCES regions(id),
    version_id BIGINT NOT NULL REFERENCES workflow_versions(id),
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (subject, subject_id, region_id)
);

-- Statutory years loaded from a TOML file (the format of data/calendar/cn-2026.toml), beside the
-- years built into the binary. region_id NULL: the national calendar (replaces a built-in year of
-- the same number, or adds one); otherwise a region's own variant of that year (local holidays),
-- which replaces the year for the region and everything below it. content is the file as loaded.
CREATE TABLE calendar_years (
    id {pk},
    region_id BIGINT REFERENCES regions(id),
    year BIGINT NOT NULL,
    source TEXT NOT NULL,
    content TEXT NOT NULL,
    loaded_at BIGINT NOT NULL,
    loaded_by TEXT NOT NULL
);
CREATE UNIQUE INDEX calendar_years_national ON calendar_years (year) WHERE region_id IS NULL;
CREATE UNIQUE INDEX calendar_years_region ON calendar_years (region_id, year) WHERE region_id IS NOT NULL;

-- Ad-hoc closures (闭厅日: a typhoon, a relocation): not working days for deadlines in the region
-- and every region below it. day is an ISO date 'YYYY-MM-DD'.
CREATE TABLE calendar_closures (
    id {pk},
    region_id BIGINT NOT NULL REFERENCES regions(id),
    day TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE UNIQUE INDEX calendar_closures_region_day ON calendar_closures (region_id, day);
