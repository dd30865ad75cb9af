-- 017 analysis (研判): counts of problems by grid x category x day, from two
-- sources: requests (one per valid request, at its receipt day, under its
-- current unit grid and category) and visit findings (one per finding, at
-- the visit's day, under the enterprise's grid). Kept in the same transaction
-- as every change (core/analysis.c), so every figure of the analysis is read
-- from here and always equals a recount (`yiqiban stats check`).
CREATE TABLE grid_stats (
  tenant_id BIGINT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('request', 'finding')),
  day INTEGER NOT NULL,                  -- Shanghai day number
  grid_id BIGINT NOT NULL DEFAULT 0,     -- unit grid, 0 = not placed
  category_id BIGINT NOT NULL DEFAULT 0, -- request category, 0 = not classified
  n BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, source, day, grid_id, category_id)
);
CREATE INDEX grid_stats_grid ON grid_stats (tenant_id, source, grid_id, day);
