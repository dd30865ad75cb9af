-- 002 enterprise registry (市场主体库): market entities with versioned
-- registration data, tags, full-text name search, the enterprise user's
-- binding, service teams (包联), the key-enterprise ledger (重点企业台账),
-- signing keys for 政企码, and import runs with per-row error reports.

ALTER TABLE users ADD COLUMN enterprise_id BIGINT;  -- enterprise users: the enterprise they act for

CREATE TABLE enterprises (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  credit_code TEXT NOT NULL,              -- 统一社会信用代码, 18 characters, upper case
  credit_code_ok INTEGER NOT NULL DEFAULT 1,  -- 0: check failed, admitted by an administrator's override
  name TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'enterprise' CHECK (kind IN ('enterprise', 'individual', 'cooperative')),
  legal_rep TEXT NOT NULL DEFAULT '',     -- 法定代表人 / 经营者
  phone TEXT NOT NULL DEFAULT '',
  address TEXT NOT NULL DEFAULT '',
  lat DOUBLE PRECISION,                   -- WGS-84; NULL when unknown
  lon DOUBLE PRECISION,
  industry_section TEXT NOT NULL DEFAULT '',   -- GB/T 4754-2017 门类 A..T
  industry_division TEXT NOT NULL DEFAULT '',  -- 大类 01..97
  size_class TEXT NOT NULL DEFAULT '' CHECK (size_class IN ('', 'large', 'medium', 'small', 'micro')),
  registered_on TEXT NOT NULL DEFAULT '', -- YYYY-MM-DD, the registration date (a date, not an instant)
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'moved_out', 'deregistered', 'revoked')),
  is_key INTEGER NOT NULL DEFAULT 0,      -- 重点企业
  tags TEXT NOT NULL DEFAULT '',          -- comma-separated, as shown; enterprise_tags is the index
  grid_id BIGINT,                         -- unit grid (grid issue)
  checkin_secret TEXT NOT NULL,           -- per-enterprise secret of the rotating check-in code
  version INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (tenant_id, credit_code)
);
CREATE INDEX enterprises_status ON enterprises (tenant_id, status, id);
CREATE INDEX enterprises_industry ON enterprises (tenant_id, industry_section, industry_division, id);
CREATE INDEX enterprises_size ON enterprises (tenant_id, size_class, id);
CREATE INDEX enterprises_key ON enterprises (tenant_id, is_key, id);
CREATE INDEX enterprises_grid ON enterprises (tenant_id, grid_id, id);
CREATE INDEX enterprises_name ON enterprises (tenant_id, name, id);

CREATE TABLE enterprise_tags (
  tenant_id BIGINT NOT NULL,
  enterprise_id BIGINT NOT NULL REFERENCES enterprises(id),
  tag TEXT NOT NULL,
  PRIMARY KEY (tenant_id, enterprise_id, tag)
);
CREATE INDEX enterprise_tags_tag ON enterprise_tags (tenant_id, tag, enterprise_id);

-- 变更记录: one row per version. changes = {"field":[old,new],...};
-- snapshot = the registration data after the change.
CREATE TABLE enterprise_versions (
  tenant_id BIGINT NOT NULL,
  enterprise_id BIGINT NOT NULL REFERENCES enterprises(id),
  version INTEGER NOT NULL,
  changed_at BIGINT NOT NULL,
  actor_id BIGINT NOT NULL DEFAULT 0,
  actor_login TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT 'api',     -- api, import, self (the enterprise), demo
  changes TEXT NOT NULL,
  snapshot TEXT NOT NULL,
  PRIMARY KEY (tenant_id, enterprise_id, version)
);

-- Chinese name search: trigram full-text index on SQLite (3.34+);
-- PostgreSQL uses a pg_trgm GIN index on enterprises.name.
-- @only sqlite
CREATE VIRTUAL TABLE enterprise_fts USING fts5(name, content='enterprises', content_rowid='id',
                                              tokenize='trigram');
CREATE TRIGGER enterprise_fts_ai AFTER INSERT ON enterprises BEGIN
  INSERT INTO enterprise_fts (rowid, name) VALUES (new.id, new.name);
END;
CREATE TRIGGER enterprise_fts_ad AFTER DELETE ON enterprises BEGIN
  INSERT INTO enterprise_fts (enterprise_fts, rowid, name) VALUES ('delete', old.id, old.name);
END;
CREATE TRIGGER enterprise_fts_au AFTER UPDATE OF name ON enterprises BEGIN
  INSERT INTO enterprise_fts (enterprise_fts, rowid, name) VALUES ('delete', old.id, old.name);
  INSERT INTO enterprise_fts (rowid, name) VALUES (new.id, new.name);
END;
-- @end
-- @only postgres
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX enterprises_name_trgm ON enterprises USING gin (name gin_trgm_ops);
-- @end

-- 组团式服务 / 包联: officials serving an enterprise.
CREATE TABLE service_team_members (
  tenant_id BIGINT NOT NULL,
  enterprise_id BIGINT NOT NULL REFERENCES enterprises(id),
  user_id BIGINT NOT NULL REFERENCES users(id),
  role TEXT NOT NULL CHECK (role IN ('lead', 'member')),
  assigned_at BIGINT NOT NULL,
  assigned_by BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, enterprise_id, user_id)
);
CREATE INDEX service_team_user ON service_team_members (tenant_id, user_id);

-- 重点企业台账: problems of key enterprises, each with a responsible official.
CREATE TABLE ledger_items (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL,
  enterprise_id BIGINT NOT NULL REFERENCES enterprises(id),
  title TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  responsible_user_id BIGINT NOT NULL REFERENCES users(id),
  deadline_on TEXT NOT NULL,              -- YYYY-MM-DD (Asia/Shanghai); due at the end of that day
  deadline_at BIGINT NOT NULL,            -- the same instant in UTC ms, for sorting and overdue checks
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
  created_by BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  resolved_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX ledger_items_enterprise ON ledger_items (tenant_id, enterprise_id, status);
CREATE INDEX ledger_items_responsible ON ledger_items (tenant_id, responsible_user_id, status);
CREATE INDEX ledger_items_deadline ON ledger_items (tenant_id, status, deadline_at);

CREATE TABLE ledger_progress (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL,
  item_id BIGINT NOT NULL REFERENCES ledger_items(id),
  at BIGINT NOT NULL,
  user_id BIGINT NOT NULL DEFAULT 0,
  note TEXT NOT NULL,
  status_after TEXT NOT NULL
);
CREATE INDEX ledger_progress_item ON ledger_progress (tenant_id, item_id, id);

-- 政企码 signing keys (Ed25519), one current key per tenant; old keys keep
-- verifying codes already printed.
CREATE TABLE signing_keys (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  kid INTEGER NOT NULL,
  public_key TEXT NOT NULL,               -- base64url
  secret_key TEXT NOT NULL,               -- base64url (the database is the trust boundary)
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, kid)
);

-- Imports: one row per run, and the rows it refused.
CREATE TABLE import_runs (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL,
  kind TEXT NOT NULL,                     -- 'enterprises'
  filename TEXT NOT NULL DEFAULT '',
  actor_id BIGINT NOT NULL DEFAULT 0,
  started_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL DEFAULT 0,
  rows_total INTEGER NOT NULL DEFAULT 0,
  rows_created INTEGER NOT NULL DEFAULT 0,
  rows_updated INTEGER NOT NULL DEFAULT 0,
  rows_unchanged INTEGER NOT NULL DEFAULT 0,
  rows_failed INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'running'  -- running, done, failed
);
CREATE TABLE import_errors (
  tenant_id BIGINT NOT NULL,
  run_id BIGINT NOT NULL REFERENCES import_runs(id),
  row_no INTEGER NOT NULL,                -- 1-based data row (the header is row 1 in the file)
  field TEXT NOT NULL,
  message TEXT NOT NULL,
  message_zh TEXT NOT NULL,
  PRIMARY KEY (tenant_id, run_id, row_no, field)
);
