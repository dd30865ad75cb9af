-- 010 enterprise requests (诉求): categories with default departments, time-limit
-- policies, the requests themselves, their events (the timeline), extension
-- and return applications, attachments, ratings, supervision flags, and
-- per-day counters for the live rates.

CREATE TABLE request_categories (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  parent_id BIGINT REFERENCES request_categories(id),
  code TEXT NOT NULL,
  name TEXT NOT NULL,
  path TEXT NOT NULL DEFAULT '',          -- '/3/17/' ids from the top
  department_id BIGINT REFERENCES departments(id),  -- usual handling department
  open311_code TEXT NOT NULL DEFAULT '',  -- service_code when published over Open311 ('' = not published)
  active INTEGER NOT NULL DEFAULT 1,
  sort INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (tenant_id, code)
);

-- Time limits, most specific first: (category, type) > (category, '') > ('', type) > defaults.
CREATE TABLE time_limit_policies (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  category_id BIGINT NOT NULL DEFAULT 0,  -- 0 = any category
  req_type TEXT NOT NULL DEFAULT '',      -- '' = any type
  sign_minutes INTEGER NOT NULL,          -- working minutes from dispatch to signing
  handle_days INTEGER NOT NULL,           -- working days from dispatch to reply
  visit_days INTEGER NOT NULL,            -- working days from reply to return visit / rating
  updated_at BIGINT NOT NULL,
  UNIQUE (tenant_id, category_id, req_type)
);

CREATE TABLE requests (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  number TEXT NOT NULL,                   -- readable: 20260115-000123 (Shanghai date + daily sequence)
  channel TEXT NOT NULL CHECK (channel IN ('online', 'hall', 'hotline', 'grid', 'observer', 'qrcode', 'open311')),
  req_type TEXT NOT NULL CHECK (req_type IN ('consultation', 'help', 'complaint', 'suggestion', 'report')),
  category_id BIGINT REFERENCES request_categories(id),
  enterprise_id BIGINT REFERENCES enterprises(id),  -- NULL: anonymous or a person
  contact_name TEXT NOT NULL DEFAULT '',
  contact_phone TEXT NOT NULL DEFAULT '',
  title TEXT NOT NULL,
  content TEXT NOT NULL,                  -- <= 4000 characters
  address TEXT NOT NULL DEFAULT '',
  lat DOUBLE PRECISION,
  lon DOUBLE PRECISION,
  grid_id BIGINT,
  urgency TEXT NOT NULL DEFAULT 'normal' CHECK (urgency IN ('normal', 'urgent', 'critical')),
  state TEXT NOT NULL,                    -- see core/request.c: the state machine
  paused_from TEXT NOT NULL DEFAULT '',   -- the state to resume to
  department_id BIGINT REFERENCES departments(id),  -- handling department once dispatched
  handler_id BIGINT REFERENCES users(id),            -- who signed for it
  created_by BIGINT NOT NULL DEFAULT 0,   -- the user who entered it (0 = Open311 / anonymous)
  master_id BIGINT REFERENCES requests(id),          -- merged into
  reopen_count INTEGER NOT NULL DEFAULT 0,
  supervision_level INTEGER NOT NULL DEFAULT 0,      -- 督办: 0 none, 1.. escalation levels
  received_at BIGINT NOT NULL,
  dispatched_at BIGINT NOT NULL DEFAULT 0,
  signed_at BIGINT NOT NULL DEFAULT 0,
  replied_at BIGINT NOT NULL DEFAULT 0,
  closed_at BIGINT NOT NULL DEFAULT 0,
  sign_due_at BIGINT NOT NULL DEFAULT 0,   -- deadlines (UTC ms), 0 = not running
  handle_due_at BIGINT NOT NULL DEFAULT 0,
  visit_due_at BIGINT NOT NULL DEFAULT 0,
  paused_at BIGINT NOT NULL DEFAULT 0,
  paused_ms BIGINT NOT NULL DEFAULT 0,     -- total paused time
  extended_days INTEGER NOT NULL DEFAULT 0,
  rating_solved INTEGER,                   -- 1 solved / 0 not, NULL unrated
  rating TEXT NOT NULL DEFAULT '' CHECK (rating IN ('', 'satisfied', 'basic', 'unsatisfied', 'unrated')),
  rating_comment TEXT NOT NULL DEFAULT '',
  closed_on_time INTEGER,                  -- 1/0 once closed
  version INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (tenant_id, number)
);
CREATE INDEX requests_state ON requests (tenant_id, state, id);
CREATE INDEX requests_department ON requests (tenant_id, department_id, state, handle_due_at);
CREATE INDEX requests_enterprise ON requests (tenant_id, enterprise_id, id);
CREATE INDEX requests_handler ON requests (tenant_id, handler_id, state);
CREATE INDEX requests_grid ON requests (tenant_id, grid_id, id);
CREATE INDEX requests_received ON requests (tenant_id, received_at);
CREATE INDEX requests_tenant_id ON requests (tenant_id, id);  -- newest-first pages of a district

-- The timeline: every step, with a note for the enterprise and one for staff.
CREATE TABLE request_events (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL,
  request_id BIGINT NOT NULL REFERENCES requests(id),
  at BIGINT NOT NULL,
  actor_id BIGINT NOT NULL DEFAULT 0,     -- 0 = the digital employee (scheduler) or Open311
  actor_name TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL,
  from_state TEXT NOT NULL DEFAULT '',
  to_state TEXT NOT NULL DEFAULT '',
  public_note TEXT NOT NULL DEFAULT '',
  internal_note TEXT NOT NULL DEFAULT '',
  data TEXT NOT NULL DEFAULT '{}'         -- action details (department, days, level ...)
);
CREATE INDEX request_events_request ON request_events (tenant_id, request_id, id);

-- Applications that a department head decides: extension (延期) and return (退单).
CREATE TABLE request_applications (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL,
  request_id BIGINT NOT NULL REFERENCES requests(id),
  kind TEXT NOT NULL CHECK (kind IN ('extension', 'return')),
  days INTEGER NOT NULL DEFAULT 0,        -- extension: working days asked
  reason TEXT NOT NULL,
  applicant_id BIGINT NOT NULL,
  applied_at BIGINT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'refused')),
  decided_by BIGINT NOT NULL DEFAULT 0,
  decided_at BIGINT NOT NULL DEFAULT 0,
  decision_note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX request_applications_pending ON request_applications (tenant_id, status, request_id);

CREATE TABLE request_attachments (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL,
  request_id BIGINT NOT NULL REFERENCES requests(id),
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,             -- checked by content: image/png, image/jpeg, application/pdf
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,                   -- the file lives outside the hot tables, by hash
  uploaded_by BIGINT NOT NULL DEFAULT 0,
  uploaded_at BIGINT NOT NULL
);
CREATE INDEX request_attachments_request ON request_attachments (tenant_id, request_id);

-- Attachment bytes, by content hash, away from the tables that lists read.
CREATE TABLE attachment_blobs (
  tenant_id BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  data @BLOB@ NOT NULL,
  PRIMARY KEY (tenant_id, sha256)
);
