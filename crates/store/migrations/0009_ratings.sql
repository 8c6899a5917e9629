-- Ratings (好差评): single-use rating tokens issued with each served ticket or concluded case,
-- the ratings themselves (GB/T 39046 Table A.8 fields), the bad-review follow-ups, counters per
-- leaf and day written in the same transactions as the events, and frozen monthly scorecards.
-- `series` is 'ticket' (一次一评) or 'case' (一事一评); the two are never merged.

CREATE TABLE rating_tokens (
    id {pk},
    token_hash TEXT NOT NULL,
    series TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    subject_no TEXT NOT NULL,
    region_id BIGINT NOT NULL REFERENCES regions(id),
    hall_id BIGINT NOT NULL DEFAULT 0,
    window_id BIGINT NOT NULL DEFAULT 0,
    person_id BIGINT NOT NULL DEFAULT 0,
    department_id BIGINT NOT NULL DEFAULT 0,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    rating_id BIGINT
);
CREATE UNIQUE INDEX rating_tokens_hash ON rating_tokens (token_hash);
-- One token per event: a ticket or a case is rated at most once in its series.
CREATE UNIQUE INDEX rating_tokens_subject ON rating_tokens (series, subject_id);
CREATE INDEX rating_tokens_window ON rating_tokens (window_id, issued_at);
CREATE INDEX rating_tokens_unused ON rating_tokens (used_at, issued_at);

CREATE TABLE ratings (
    id {pk},
    token_id BIGINT NOT NULL REFERENCES rating_tokens(id),
    series TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    subject_no TEXT NOT NULL,
    channel TEXT NOT NULL,
    rater TEXT NOT NULL,
    rated_at BIGINT NOT NULL,
    rate_count BIGINT NOT NULL DEFAULT 1,
    level BIGINT NOT NULL,
    dimensions TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    region_id BIGINT NOT NULL,
    region_code TEXT NOT NULL,
    hall_id BIGINT NOT NULL DEFAULT 0,
    window_id BIGINT NOT NULL DEFAULT 0,
    person_id BIGINT NOT NULL DEFAULT 0,
    department_id BIGINT NOT NULL DEFAULT 0,
    defaulted BIGINT NOT NULL DEFAULT 0,
    excluded_at BIGINT,
    excluded_reason TEXT
);
CREATE UNIQUE INDEX ratings_subject ON ratings (series, subject_id);
CREATE INDEX ratings_hall_at ON ratings (hall_id, rated_at);

-- A bad review's follow-up (核实 → 整改 → 反馈 → 回访), driven by the hall manager.
CREATE TABLE rating_followups (
    id {pk},
    rating_id BIGINT NOT NULL REFERENCES ratings(id),
    series TEXT NOT NULL,
    region_id BIGINT NOT NULL,
    hall_id BIGINT NOT NULL DEFAULT 0,
    window_id BIGINT NOT NULL DEFAULT 0,
    person_id BIGINT NOT NULL DEFAULT 0,
    department_id BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    rectify_due TEXT NOT NULL,
    verified_at BIGINT,
    verify_note TEXT,
    rectified_at BIGINT,
    rectify_note TEXT,
    fed_back_at BIGINT,
    feedback_note TEXT,
    called_back_at BIGINT,
    callback_view TEXT,
    callback_note TEXT,
    appeal_decided_at BIGINT,
    appeal_reason TEXT,
    appeal_outcome TEXT,
    warned_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX rating_followups_rating ON rating_followups (rating_id);
CREATE INDEX rating_followups_hall_state ON rating_followups (hall_id, state);
CREATE INDEX rating_followups_due ON rating_followups (state, rectify_due);

-- Counters per leaf (series, region, hall, window, person, department) and bucket ('day' and
-- 'month', local time). A hall's rows follow the hall at query time (halls → regions), so a move
-- needs no rewrite; an appeal adds `excluded` to the bucket it was decided in, never editing the
-- bucket of the review. Hall-less leaves (cases decided outside a hall) use hall_id 0.
CREATE TABLE rating_counters (
    series TEXT NOT NULL,
    region_id BIGINT NOT NULL,
    hall_id BIGINT NOT NULL,
    window_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    department_id BIGINT NOT NULL,
    bucket TEXT NOT NULL,
    bucket_start BIGINT NOT NULL,
    issued BIGINT NOT NULL DEFAULT 0,
    rated BIGINT NOT NULL DEFAULT 0,
    l1 BIGINT NOT NULL DEFAULT 0,
    l2 BIGINT NOT NULL DEFAULT 0,
    l3 BIGINT NOT NULL DEFAULT 0,
    l4 BIGINT NOT NULL DEFAULT 0,
    l5 BIGINT NOT NULL DEFAULT 0,
    defaulted BIGINT NOT NULL DEFAULT 0,
    excluded BIGINT NOT NULL DEFAULT 0,
    followups BIGINT NOT NULL DEFAULT 0,
    rectified BIGINT NOT NULL DEFAULT 0,
    rectified_on_time BIGINT NOT NULL DEFAULT 0,
    called_back BIGINT NOT NULL DEFAULT 0,
    callback_satisfied BIGINT NOT NULL DEFAULT 0,
    overdue BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (series, region_id, hall_id, window_id, person_id, department_id, bucket, bucket_start)
);
CREATE INDEX rating_counters_bucket ON rating_counters (bucket, bucket_start);

-- Service figures per hall, window, person and department and bucket ('day', 'month'), written
-- with each ticket's finish: visitors served, their waiting time (issue → last call) and the
-- service time. The queue's own counters have no person leaf and no month bucket.
CREATE TABLE service_counters (
    hall_id BIGINT NOT NULL,
    window_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    department_id BIGINT NOT NULL,
    bucket TEXT NOT NULL,
    bucket_start BIGINT NOT NULL,
    served BIGINT NOT NULL DEFAULT 0,
    wait_sum_ms BIGINT NOT NULL DEFAULT 0,
    wait_max_ms BIGINT NOT NULL DEFAULT 0,
    wait_over_20 BIGINT NOT NULL DEFAULT 0,
    wait_over_30 BIGINT NOT NULL DEFAULT 0,
    service_sum_ms BIGINT NOT NULL DEFAULT 0,
    service_max_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hall_id, window_id, person_id, department_id, bucket, bucket_start)
);
CREATE INDEX service_counters_bucket ON service_counters (bucket, bucket_start);

-- Frozen monthly scorecards: one row per ranked subject; `figures` is the JSON behind the rank.
CREATE TABLE scorecard_snapshots (
    id {pk},
    region_id BIGINT NOT NULL,
    month TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    subject_name TEXT NOT NULL,
    rank BIGINT,
    peers BIGINT NOT NULL,
    score_permille BIGINT,
    figures TEXT NOT NULL,
    bottom BIGINT NOT NULL DEFAULT 0,
    talk BIGINT NOT NULL DEFAULT 0,
    frozen_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX scorecard_snapshots_key ON scorecard_snapshots (region_id, month, kind, subject_id);
