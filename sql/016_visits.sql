-- 016 the visit system (走访服务制度): visit policies, each enterprise's visit
-- state (last visit, next due date), visit records with findings and photos,
-- and visit campaigns (e.g. 千企万户大走访) with their resolved target sets.
--
-- Times are UTC milliseconds; days are local (Asia/Shanghai, fixed UTC+8)
-- day numbers since 1970-01-01, as in core/workcal.h. A visit duty of N days
-- ends at 23:59:59.999 local time of the N-th day after the anchor day.

-- A policy says how often the enterprises it matches must be visited. The
-- match criteria are ANDed; NULL means "any". The strictest policy (fewest
-- days, then the smallest id) that matches an active enterprise applies.
CREATE TABLE visit_policies (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  interval_days INTEGER NOT NULL CHECK (interval_days BETWEEN 1 AND 3650),
  match_key INTEGER,                      -- 1 key enterprises, 0 the others, NULL any
  match_tag TEXT,                         -- an enterprise tag (enterprises.tags)
  match_size TEXT,                        -- large, medium, small, micro
  match_section TEXT,                     -- GB/T 4754 门类 A..T
  version INTEGER NOT NULL DEFAULT 1,
  created_by BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX visit_policies_tenant ON visit_policies (tenant_id, interval_days, id);

-- One row per enterprise, kept current in the transaction of every visit,
-- policy change and registry change (core/visit.c), so that "who is overdue"
-- and "who is due next" are range reads of visit_state_due.
CREATE TABLE visit_state (
  tenant_id BIGINT NOT NULL,
  enterprise_id BIGINT NOT NULL REFERENCES enterprises(id),
  anchor_day BIGINT NOT NULL,             -- the day the duty counts from: the last visit, else registration
  policy_id BIGINT,                       -- the policy that applies; NULL: none (or not active)
  interval_days INTEGER,
  next_due_at BIGINT,                     -- end of the due day; NULL: no duty
  last_visit_id BIGINT,
  last_visit_at BIGINT,
  visits INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, enterprise_id)
);
CREATE INDEX visit_state_due ON visit_state (tenant_id, next_due_at, enterprise_id);
CREATE INDEX visit_state_policy ON visit_state (tenant_id, policy_id);

-- The enterprises registered before this migration: never visited, so the
-- duty counts from the registration date (else the day they were entered).
-- @only sqlite
INSERT INTO visit_state (tenant_id, enterprise_id, anchor_day)
SELECT tenant_id, id,
       CASE WHEN registered_on <> '' THEN CAST(julianday(registered_on) - 2440587.5 AS INTEGER)
            ELSE (created_at + 28800000) / 86400000 END
FROM enterprises;
-- @end
-- @only postgres
INSERT INTO visit_state (tenant_id, enterprise_id, anchor_day)
SELECT tenant_id, id,
       CASE WHEN registered_on <> '' THEN registered_on::date - DATE '1970-01-01'
            ELSE (created_at + 28800000) / 86400000 END
FROM enterprises;
-- @end

-- 走访记录: who visited whom, when and where (the distance to the registered
-- location, and whether it was farther than visits.max_distance_m).
CREATE TABLE visits (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  enterprise_id BIGINT NOT NULL REFERENCES enterprises(id),
  worker_id BIGINT NOT NULL REFERENCES users(id),
  visited_at BIGINT NOT NULL,
  lat DOUBLE PRECISION,                   -- where the worker was (WGS-84); NULL when not recorded
  lon DOUBLE PRECISION,
  distance_m DOUBLE PRECISION,            -- to the enterprise's location; NULL when either is unknown
  far INTEGER NOT NULL DEFAULT 0,         -- distance_m above the threshold at the time
  met_name TEXT NOT NULL DEFAULT '',      -- whom they met
  met_role TEXT NOT NULL DEFAULT '',
  summary TEXT NOT NULL,
  findings INTEGER NOT NULL DEFAULT 0,
  requests INTEGER NOT NULL DEFAULT 0,    -- findings raised as requests
  photos INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE INDEX visits_enterprise ON visits (tenant_id, enterprise_id, visited_at, id);
CREATE INDEX visits_worker ON visits (tenant_id, worker_id, visited_at, id);
CREATE INDEX visits_time ON visits (tenant_id, visited_at, id);

-- 走访发现: a problem found on a visit, in the request catalogue's categories;
-- one raised as a request (channel grid) keeps the request's id.
CREATE TABLE visit_findings (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL,
  visit_id BIGINT NOT NULL REFERENCES visits(id),
  seq INTEGER NOT NULL,                   -- 1, 2, ... in the order given
  category_id BIGINT NOT NULL REFERENCES request_categories(id),
  description TEXT NOT NULL,
  raise_request INTEGER NOT NULL DEFAULT 0,
  request_id BIGINT REFERENCES requests(id),
  UNIQUE (tenant_id, visit_id, seq)
);
CREATE INDEX visit_findings_category ON visit_findings (tenant_id, category_id);

-- Photos of a visit; the bytes are in attachment_blobs (by SHA-256), shared
-- with request attachments.
CREATE TABLE visit_photos (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL,
  visit_id BIGINT NOT NULL REFERENCES visits(id),
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  uploaded_by BIGINT NOT NULL,
  uploaded_at BIGINT NOT NULL
);
CREATE INDEX visit_photos_visit ON visit_photos (tenant_id, visit_id, id);
CREATE INDEX visit_photos_sha ON visit_photos (tenant_id, sha256);

-- 走访活动: a target set resolved at creation; a visit to a target between
-- starts_at and deadline_at counts for the campaign (the first one is kept).
CREATE TABLE visit_campaigns (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  target TEXT NOT NULL,                   -- the target definition as given (JSON)
  starts_on TEXT NOT NULL,                -- YYYY-MM-DD local
  starts_at BIGINT NOT NULL,              -- start of that day
  deadline_on TEXT NOT NULL,              -- YYYY-MM-DD local
  deadline_at BIGINT NOT NULL,            -- end of that day
  targets INTEGER NOT NULL DEFAULT 0,     -- live counters, kept with every visit
  visited INTEGER NOT NULL DEFAULT 0,
  created_by BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  UNIQUE (tenant_id, name)
);

CREATE TABLE visit_campaign_targets (
  tenant_id BIGINT NOT NULL,
  campaign_id BIGINT NOT NULL REFERENCES visit_campaigns(id),
  enterprise_id BIGINT NOT NULL REFERENCES enterprises(id),
  visit_id BIGINT,                        -- the visit that counted; NULL: not yet visited
  visited_at BIGINT,
  worker_id BIGINT,
  PRIMARY KEY (tenant_id, campaign_id, enterprise_id)
);
-- a visit finds the targets of its enterprise
CREATE INDEX visit_campaign_targets_enterprise ON visit_campaign_targets (tenant_id, enterprise_id, campaign_id);
