-- 013 Open311 GeoReport v2 (core/open311.c): the form fields ("attributes")
-- a published service asks for, the Open311 details of requests filed
-- through /open311/v2/requests, and the attribute answers given with them.
-- A service is a request category with a non-empty open311_code (010).

-- One category per service code: an Open311 client addresses services by code.
CREATE UNIQUE INDEX request_categories_open311 ON request_categories (tenant_id, open311_code)
  WHERE open311_code <> '';

-- Open311 clients follow changes with updated_after: the requests by last change.
CREATE INDEX requests_updated ON requests (tenant_id, updated_at);

-- The service definition of a category: one row per attribute.
CREATE TABLE open311_attributes (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  category_id BIGINT NOT NULL REFERENCES request_categories(id),
  code TEXT NOT NULL,                     -- the attribute[code] of a POST
  datatype TEXT NOT NULL CHECK (datatype IN ('string', 'number', 'datetime', 'text',
                                             'singlevaluelist', 'multivaluelist')),
  required INTEGER NOT NULL DEFAULT 0,
  variable INTEGER NOT NULL DEFAULT 1,    -- 0: information shown to the user, no input
  description TEXT NOT NULL,              -- the question asked
  datatype_description TEXT NOT NULL DEFAULT '',
  sort_order INTEGER NOT NULL,            -- the spec's "order": 1 is shown first
  value_list TEXT NOT NULL DEFAULT '[]',  -- list types: [{"key":"...","name":"..."}]
  UNIQUE (tenant_id, category_id, code)
);

-- What an Open311 client sent besides the request itself. Contact data
-- (email, device, account) is for staff; media_url and address_id are public.
CREATE TABLE open311_requests (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  request_id BIGINT NOT NULL REFERENCES requests(id),
  service_code TEXT NOT NULL,             -- as filed; the category may be reclassified later
  session_id BIGINT NOT NULL,             -- the API key (sessions.id) that filed it
  address_id TEXT NOT NULL DEFAULT '',
  media_url TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL DEFAULT '',
  device_id TEXT NOT NULL DEFAULT '',
  account_id TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, request_id)
);

-- The attribute answers: one row per value (several for a multivaluelist).
CREATE TABLE open311_request_attributes (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  request_id BIGINT NOT NULL REFERENCES requests(id),
  code TEXT NOT NULL,
  seq INTEGER NOT NULL,                   -- order of the values of one code
  value TEXT NOT NULL,
  PRIMARY KEY (tenant_id, request_id, code, seq)
);
