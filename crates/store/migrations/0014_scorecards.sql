-- Scorecards: one row per frozen (region, month). It is written in the same transaction as the
-- month's `scorecard_snapshots` rows and its primary key is what makes a freeze happen once, even
-- when two processes (or the job and the CLI) try at the same moment.
CREATE TABLE scorecard_freezes (
    region_id BIGINT NOT NULL REFERENCES regions(id),
    month TEXT NOT NULL,
    subjects BIGINT NOT NULL,
    frozen_at BIGINT NOT NULL,
    frozen_by TEXT NOT NULL,
    PRIMARY KEY (region_id, month)
);
CREATE INDEX scorecard_snapshots_subject ON scorecard_snapshots (region_id, kind, subject_id, month);
