-- 006 working-day calendar (工作日): the yearly exceptions to Monday–Friday
-- per tenant, which years are known, and a version that changes with every
-- write so the servers' in-memory snapshots know when to reload.
-- The years the State Council has published ship in src/core/workcal.c and
-- are loaded into a tenant at run time (init, demo, or first use).

-- A known year. A year without a row here is not known: its days fall back to
-- plain Monday–Friday and deadlines over it are flagged uncertain.
CREATE TABLE calendar_years (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  year INTEGER NOT NULL,
  source TEXT NOT NULL DEFAULT '',      -- 'builtin: 国办发明电〔2024〕12号', or what an admin gave
  loaded_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, year)
);

-- The exceptions: 'holiday' = a weekday off, 'workday' = a weekend day worked (调休).
CREATE TABLE calendar_days (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  day TEXT NOT NULL,                    -- 'YYYY-MM-DD', Asia/Shanghai civil date
  kind TEXT NOT NULL CHECK (kind IN ('holiday', 'workday')),
  name TEXT NOT NULL DEFAULT '',        -- 春节
  PRIMARY KEY (tenant_id, day)
);

-- One row per tenant once its calendar was first written.
CREATE TABLE calendar_meta (
  tenant_id BIGINT NOT NULL PRIMARY KEY REFERENCES tenants(id),
  version BIGINT NOT NULL,              -- +1 on every change of years, days or working hours
  builtin_loaded INTEGER NOT NULL DEFAULT 0,  -- the built-in years were offered once
  updated_at BIGINT NOT NULL
);
