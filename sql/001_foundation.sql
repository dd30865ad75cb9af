-- 001 foundation: tenants, departments, users and roles, sessions and API
-- tokens, login attempts, settings, and the hash-chained audit log.
-- Common subset of SQLite and PostgreSQL; times are UTC milliseconds (BIGINT).
-- Every table carries tenant_id and every key and index leads with it.

CREATE TABLE tenants (
  id @ID_PK@,
  code TEXT NOT NULL UNIQUE,          -- short name used at login, e.g. 'erqi'
  name TEXT NOT NULL,                 -- 二七区
  region_code TEXT NOT NULL DEFAULT '',  -- GB/T 2260, e.g. 410103
  created_at BIGINT NOT NULL
);

CREATE TABLE departments (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  parent_id BIGINT REFERENCES departments(id),
  code TEXT NOT NULL,
  name TEXT NOT NULL,
  path TEXT NOT NULL DEFAULT '',      -- materialised ancestry '/1/5/12/' (ids), for "department and below"
  sort INTEGER NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (tenant_id, code)
);
CREATE INDEX departments_parent ON departments (tenant_id, parent_id);
CREATE INDEX departments_path ON departments (tenant_id, path);

CREATE TABLE users (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  login TEXT NOT NULL,
  display_name TEXT NOT NULL,
  phone TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL DEFAULT '',
  department_id BIGINT REFERENCES departments(id),
  password_hash TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  must_change_password INTEGER NOT NULL DEFAULT 0,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until BIGINT NOT NULL DEFAULT 0,
  last_login_at BIGINT NOT NULL DEFAULT 0,
  password_changed_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (tenant_id, login)
);
CREATE INDEX users_department ON users (tenant_id, department_id);

CREATE TABLE user_roles (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  user_id BIGINT NOT NULL REFERENCES users(id),
  role TEXT NOT NULL,
  PRIMARY KEY (tenant_id, user_id, role)
);

-- Browser sessions (kind 'web') and API tokens (kind 'api'). Only the
-- SHA-256 of the token is stored.
CREATE TABLE sessions (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  user_id BIGINT NOT NULL REFERENCES users(id),
  kind TEXT NOT NULL CHECK (kind IN ('web', 'api')),
  token_hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',      -- API token label
  csrf_token TEXT NOT NULL DEFAULT '',
  ip TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,         -- absolute expiry (0 = never, API tokens only)
  revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions (tenant_id, user_id);

CREATE TABLE login_attempts (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  login TEXT NOT NULL,
  user_id BIGINT NOT NULL DEFAULT 0,  -- 0 = no such user
  ok INTEGER NOT NULL,
  reason TEXT NOT NULL,               -- ok, bad_password, unknown_user, locked, disabled
  ip TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT '',
  at BIGINT NOT NULL
);
CREATE INDEX login_attempts_at ON login_attempts (tenant_id, at);

CREATE TABLE settings (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, key)
);

-- Append-only, hash-chained per tenant: hash = SHA-256(prev_hash | fields).
-- seq has no gaps, so a removed row is found as well as a changed one.
CREATE TABLE audit_log (
  tenant_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  at BIGINT NOT NULL,
  actor_id BIGINT NOT NULL DEFAULT 0,  -- 0 = system
  actor_login TEXT NOT NULL DEFAULT '',
  entity TEXT NOT NULL,
  entity_id BIGINT NOT NULL DEFAULT 0,
  action TEXT NOT NULL,
  summary TEXT NOT NULL DEFAULT '{}',  -- JSON
  request_id TEXT NOT NULL DEFAULT '',
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_log_entity ON audit_log (tenant_id, entity, entity_id);
