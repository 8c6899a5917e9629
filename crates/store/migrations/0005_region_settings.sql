-- Region settings: the configurable numbers of the domain rules (no-show rule, warning
-- thresholds, rating defaults ...). A row is a region's own override of one setting; the value
-- in force at a region is the nearest override on its chain to the root, else the built-in
-- default (crates/domain/src/settings.rs). Nothing is copied down the tree.
CREATE TABLE region_settings (
    region_id BIGINT NOT NULL REFERENCES regions(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (region_id, key)
);
CREATE INDEX region_settings_key ON region_settings (key);
