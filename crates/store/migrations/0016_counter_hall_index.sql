-- A hall's dashboard reads one hall's buckets of a period. The counters' primary keys start with
-- the region or the hall and end with the bucket, so without these indexes SQLite walked a hall's
-- whole history to find the period (found by the dashboard benchmark: the one-hall view grew with
-- history). With them the read touches only the period's rows.
CREATE INDEX service_counters_hall_bucket ON service_counters (hall_id, bucket, bucket_start);
CREATE INDEX rating_counters_hall_bucket ON rating_counters (hall_id, bucket, bucket_start);
CREATE INDEX case_figure_counters_hall_bucket ON case_figure_counters (hall_id, bucket, bucket_start);
