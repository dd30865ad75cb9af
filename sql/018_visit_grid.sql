-- 018: a visit remembers the unit grid its enterprise was in, so the analysis
-- can recount visit findings (grid_stats, source 'finding') from the visits
-- themselves; placement moves it with the enterprise.
ALTER TABLE visits ADD COLUMN grid_id BIGINT;
UPDATE visits SET grid_id = (SELECT grid_id FROM enterprises e WHERE e.id = visits.enterprise_id);
CREATE INDEX visits_grid ON visits (tenant_id, grid_id, visited_at);
