-- The model report (调研报告): a hall's monthly figures from before it adopted the model, imported
-- from a workbook, so that the report can set before against after. One row per hall, month and
-- indicator; value_milli is the figure times 1,000 (shares as fractions: 0.953 -> 953), an
-- integer so that both backends store it exactly.
CREATE TABLE model_baselines (
    hall_id BIGINT NOT NULL REFERENCES halls(id),
    month TEXT NOT NULL,
    metric TEXT NOT NULL,
    value_milli BIGINT NOT NULL,
    imported_at BIGINT NOT NULL,
    imported_by TEXT NOT NULL,
    PRIMARY KEY (hall_id, month, metric)
);
