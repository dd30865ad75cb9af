-- 015 grids (网格化治理): the district cut into streets (街道), communities (社区)
-- and unit grids (单元网格), each a polygon or multipolygon with holes, kept as
-- GeoJSON; the servers hold an in-memory spatial index of the unit grids
-- (core/grid.c) and reload it when grid_meta.version moves.
--
-- Codes (reference/standards.md): district 6 digits (the region code), street
-- 9 (+3), community 12 (+3), unit grid 15 (+3 sequence); a grid's code starts
-- with its parent's, so the hierarchy can be read off the codes of an import.

CREATE TABLE grids (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  parent_id BIGINT REFERENCES grids(id),
  level TEXT NOT NULL CHECK (level IN ('district', 'street', 'community', 'unit')),
  code TEXT NOT NULL,
  name TEXT NOT NULL,
  path TEXT NOT NULL DEFAULT '',          -- materialised ancestry '/1/4/9/' (ids), for "this grid and below"
  geometry TEXT NOT NULL,                 -- GeoJSON Polygon or MultiPolygon, WGS-84
  area_m2 DOUBLE PRECISION NOT NULL DEFAULT 0,
  min_lon DOUBLE PRECISION NOT NULL,
  min_lat DOUBLE PRECISION NOT NULL,
  max_lon DOUBLE PRECISION NOT NULL,
  max_lat DOUBLE PRECISION NOT NULL,
  label_lon DOUBLE PRECISION NOT NULL,    -- a point inside the grid, for labels
  label_lat DOUBLE PRECISION NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (tenant_id, code)
);
CREATE INDEX grids_parent ON grids (tenant_id, parent_id, code);
CREATE INDEX grids_path ON grids (tenant_id, path);
CREATE INDEX grids_level ON grids (tenant_id, level, code);

-- Moves in the same transaction as any change of grids: a server whose index
-- was built at an older version rebuilds it before the next lookup.
CREATE TABLE grid_meta (
  tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id),
  version BIGINT NOT NULL DEFAULT 0
);

-- A grid worker's grid (网格员: a unit grid; 网格长: a community or street, whose
-- scope is every grid below it).
ALTER TABLE users ADD COLUMN grid_id BIGINT REFERENCES grids(id);
CREATE INDEX users_grid ON users (tenant_id, grid_id);
CREATE INDEX enterprises_located ON enterprises (tenant_id, grid_id, lat);
