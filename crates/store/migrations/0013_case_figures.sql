-- Case figures for the supervision dashboards (issue 6, the case side): counters per leaf
-- (region, hall, window, person, department) and bucket ('day', 'month', local time), written in
-- the transactions of the case events (acceptance, conclusion, warning). A region's figures are
-- summed over its subtree at query time (halls -> regions; hall-less cases use their own region),
-- so a region move never needs a rewrite.
CREATE TABLE case_figure_counters (
    region_id BIGINT NOT NULL,
    hall_id BIGINT NOT NULL,
    window_id BIGINT NOT NULL,
    person_id BIGINT NOT NULL,
    department_id BIGINT NOT NULL,
    bucket TEXT NOT NULL,
    bucket_start BIGINT NOT NULL,
    -- counted at acceptance (受理)
    accepted BIGINT NOT NULL DEFAULT 0,
    accepted_online BIGINT NOT NULL DEFAULT 0,
    accepted_instant BIGINT NOT NULL DEFAULT 0,
    -- counted at conclusion (办结)
    concluded BIGINT NOT NULL DEFAULT 0,
    -- concluded on or before the promised deadline (承诺时限, extensions and special procedures included)
    concluded_on_time BIGINT NOT NULL DEFAULT 0,
    -- concluded with at most one on-site visit (最多跑一次): <= 1 ticket linked to the case
    one_visit BIGINT NOT NULL DEFAULT 0,
    -- counted when the warnings sweep raises the case to that level
    yellow BIGINT NOT NULL DEFAULT 0,
    red BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (region_id, hall_id, window_id, person_id, department_id, bucket, bucket_start)
);
CREATE INDEX case_figure_counters_bucket ON case_figure_counters (bucket, bucket_start);
-- The on-site visits of a case are the rows of case_tickets (migration 0012).
