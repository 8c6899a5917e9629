-- Rollout (推广): templates of the concrete things a target's hall needs, and runs with their
-- per-target progress, so that an interrupted run can be resumed where it stopped.

-- A source region's template (JSON of domain::rollout::RolloutTemplate).
CREATE TABLE rollout_templates (
    region_id BIGINT PRIMARY KEY REFERENCES regions(id),
    content TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- One rollout: from a source to its targets. state: running, done, interrupted.
-- options is JSON: reset_overrides, the staff accounts by target (from a CSV).
CREATE TABLE rollout_runs (
    id {pk},
    source_region_id BIGINT NOT NULL REFERENCES regions(id),
    actor TEXT NOT NULL,
    options TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX rollout_runs_source ON rollout_runs (source_region_id, id);

-- Each target of a run. state: pending, applied, refused, failed. summary is JSON of what was
-- done, or the problems that refused it; written in the target's own transaction.
CREATE TABLE rollout_targets (
    run_id BIGINT NOT NULL REFERENCES rollout_runs(id),
    region_id BIGINT NOT NULL REFERENCES regions(id),
    position BIGINT NOT NULL,
    state TEXT NOT NULL,
    summary TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, region_id)
);
