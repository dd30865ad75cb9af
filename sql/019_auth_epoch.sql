-- 019 the server caches sessions (core/session.c); every change that alters
-- what a session may do — logout, revocation, a user's roles, status,
-- department, grid or password, a department or grid moved — adds one to
-- this counter in its own transaction, and a cached session is used only
-- while the counter is what it was when the session was read. So a change
-- made by another process (the CLI) applies to the server's next request too.
CREATE TABLE auth_epoch (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n BIGINT NOT NULL
);
INSERT INTO auth_epoch (id, n) VALUES (1, 0);
