-- 011 the digital employee (数字员工): in-app notifications, what the scheduler
-- has already done (so nothing is done twice, also across restarts), outgoing
-- webhooks with their delivery queue, and the daily reports.

-- The inbox: one row per recipient.
CREATE TABLE notifications (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  user_id BIGINT NOT NULL REFERENCES users(id),
  kind TEXT NOT NULL,                     -- remind_handle, escalate_1, escalate_2, visit_due, daily_report
  title TEXT NOT NULL,
  body TEXT NOT NULL DEFAULT '',
  request_id BIGINT,                      -- the request it is about, NULL if none
  created_at BIGINT NOT NULL,
  read_at BIGINT NOT NULL DEFAULT 0       -- 0 = unread
);
CREATE INDEX notifications_user ON notifications (tenant_id, user_id, id);
CREATE INDEX notifications_unread ON notifications (tenant_id, user_id, read_at, id);

-- One row per act of the scheduler. `round` is the start of the clock the act
-- watched (the dispatch or reopening for the handling limit, the reply for the
-- return visit), so a request handled again is watched again, and the same act
-- on the same clock can never be done twice: the mark commits with the act.
CREATE TABLE job_marks (
  tenant_id BIGINT NOT NULL,
  request_id BIGINT NOT NULL,
  kind TEXT NOT NULL,                     -- remind_handle, escalate_1, escalate_2, visit_due, auto_close
  round BIGINT NOT NULL,
  done_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, request_id, kind, round)
);

CREATE TABLE webhooks (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  url TEXT NOT NULL,                      -- http:// or https://, no credentials
  secret TEXT NOT NULL,                   -- HMAC-SHA256 key of X-Yiqiban-Signature
  events TEXT NOT NULL DEFAULT '*',       -- comma-separated: '*', 'request.*', 'request.dispatch', 'notice.*' ...
  description TEXT NOT NULL DEFAULT '',
  active INTEGER NOT NULL DEFAULT 1,
  created_by BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, active);

-- Queued in the transaction of the event; sent by the delivery thread.
CREATE TABLE webhook_deliveries (
  id @ID_PK@,
  tenant_id BIGINT NOT NULL,
  webhook_id BIGINT NOT NULL REFERENCES webhooks(id),
  event TEXT NOT NULL,
  payload TEXT NOT NULL,                  -- the exact JSON body that is signed and sent
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  last_error TEXT NOT NULL DEFAULT '',
  last_status INTEGER NOT NULL DEFAULT 0, -- HTTP status of the last attempt, 0 = no answer
  created_at BIGINT NOT NULL,
  delivered_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (tenant_id, status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (tenant_id, webhook_id, id);

-- One summary per Shanghai day, written once by the scheduler.
CREATE TABLE daily_reports (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  day TEXT NOT NULL,                      -- YYYY-MM-DD (Asia/Shanghai)
  body TEXT NOT NULL,                     -- JSON
  created_at BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, day)
);
