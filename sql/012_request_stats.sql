-- 012 live counters of requests, for the three rates (响应率, 解决率, 满意率), the
-- on-time closure rate (按期结案率) and the composite score.
--
-- Counters are kept per Shanghai day of receipt (a day number since 1970-01-01)
-- and current department, in five small cubes that differ by one more
-- dimension (`dim`):
--   dim 'none'      key_id 0,            key_code ''        -- by department, or nothing
--   dim 'category'  key_id category id,  key_code ''
--   dim 'grid'      key_id grid id,      key_code ''
--   dim 'type'      key_id 0,            key_code req_type
--   dim 'channel'   key_id 0,            key_code channel
-- so every request is counted once in each cube (0 = none yet). A cube with
-- all dimensions at once would have about one row per request; these keep a
-- year of a department's figures in a few hundred rows whatever the volume.
-- core/request_stats.c keeps them in the same transaction as every change of
-- a request, by subtracting the request's contribution before the change and
-- adding the one after it (a re-dispatched request moves to its new
-- department). A dashboard reads the cubes, never the requests.
--
-- What each counter counts (a request is VALID unless merged or voided):
--   received           every request
--   valid              valid requests
--   dispatched         valid, and now with a department (dispatched and not returned)
--   responded          dispatched, and signed for (签收) since the last dispatch
--   responded_on_time  responded, and signed no later than sign_due_at
--   replied            dispatched, and answered (答复) since the last reopening
--   replied_on_time    replied, and answered no later than handle_due_at
--   closed             valid and closed (办结)
--   closed_on_time     closed, and replied within the handling limit (requests.closed_on_time)
--   rated              closed with a rating by the enterprise (satisfied, basic, unsatisfied)
--   solved             rated, and the enterprise said the problem was solved
--   satisfied          closed, rated 满意
--   basic              closed, rated 基本满意
--   unsatisfied        closed, rated 不满意
--   unrated            closed without a rating (closed after a return visit, or auto-closed)
--   reopened           valid, and reopened (重办) at least once
-- A row with received = 0 is empty (every other counter is at most received)
-- and is deleted.
CREATE TABLE request_stats (
  tenant_id BIGINT NOT NULL,
  dim TEXT NOT NULL CHECK (dim IN ('none', 'category', 'grid', 'type', 'channel')),
  day INTEGER NOT NULL,                   -- Shanghai day number of received_at
  department_id BIGINT NOT NULL DEFAULT 0,
  key_id BIGINT NOT NULL DEFAULT 0,       -- category or grid id (0 = none)
  key_code TEXT NOT NULL DEFAULT '',      -- type or channel
  received BIGINT NOT NULL DEFAULT 0,
  valid BIGINT NOT NULL DEFAULT 0,
  dispatched BIGINT NOT NULL DEFAULT 0,
  responded BIGINT NOT NULL DEFAULT 0,
  responded_on_time BIGINT NOT NULL DEFAULT 0,
  replied BIGINT NOT NULL DEFAULT 0,
  replied_on_time BIGINT NOT NULL DEFAULT 0,
  closed BIGINT NOT NULL DEFAULT 0,
  closed_on_time BIGINT NOT NULL DEFAULT 0,
  rated BIGINT NOT NULL DEFAULT 0,
  solved BIGINT NOT NULL DEFAULT 0,
  satisfied BIGINT NOT NULL DEFAULT 0,
  basic BIGINT NOT NULL DEFAULT 0,
  unsatisfied BIGINT NOT NULL DEFAULT 0,
  unrated BIGINT NOT NULL DEFAULT 0,
  reopened BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, dim, day, department_id, key_id, key_code)
);

-- The same cubes by month (day = the first day of the month), so that a year
-- of a department is twelve rows: a period is read from whole months here and
-- from request_stats for the days of the months it cuts.
CREATE TABLE request_stats_month (
  tenant_id BIGINT NOT NULL,
  dim TEXT NOT NULL CHECK (dim IN ('none', 'category', 'grid', 'type', 'channel')),
  day INTEGER NOT NULL,                   -- Shanghai day number of the month's first day
  department_id BIGINT NOT NULL DEFAULT 0,
  key_id BIGINT NOT NULL DEFAULT 0,
  key_code TEXT NOT NULL DEFAULT '',
  received BIGINT NOT NULL DEFAULT 0,
  valid BIGINT NOT NULL DEFAULT 0,
  dispatched BIGINT NOT NULL DEFAULT 0,
  responded BIGINT NOT NULL DEFAULT 0,
  responded_on_time BIGINT NOT NULL DEFAULT 0,
  replied BIGINT NOT NULL DEFAULT 0,
  replied_on_time BIGINT NOT NULL DEFAULT 0,
  closed BIGINT NOT NULL DEFAULT 0,
  closed_on_time BIGINT NOT NULL DEFAULT 0,
  rated BIGINT NOT NULL DEFAULT 0,
  solved BIGINT NOT NULL DEFAULT 0,
  satisfied BIGINT NOT NULL DEFAULT 0,
  basic BIGINT NOT NULL DEFAULT 0,
  unsatisfied BIGINT NOT NULL DEFAULT 0,
  unrated BIGINT NOT NULL DEFAULT 0,
  reopened BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, dim, day, department_id, key_id, key_code)
);

-- Overdue needs no clock-driven counter: the valid requests being handled
-- (state dispatched, signed or in_progress; paused requests' clocks stand
-- still) are counted by the Shanghai day of their handling deadline, in the
-- same five cubes. Those whose deadline day is before today are overdue (a
-- deadline in working days is the end of a day, so this is exact).
-- due = closed + overdue.
CREATE TABLE request_stats_open (
  tenant_id BIGINT NOT NULL,
  dim TEXT NOT NULL,
  day INTEGER NOT NULL,                   -- receipt day, as in request_stats
  department_id BIGINT NOT NULL DEFAULT 0,
  key_id BIGINT NOT NULL DEFAULT 0,
  key_code TEXT NOT NULL DEFAULT '',
  due_day INTEGER NOT NULL,               -- Shanghai day number of handle_due_at
  open_count BIGINT NOT NULL DEFAULT 0,   -- requests being handled with this deadline day
  PRIMARY KEY (tenant_id, dim, day, department_id, key_id, key_code, due_day)
);
