-- 021 the overdue queue at city scale: a request is overdue while it is being
-- handled past its handling deadline, dispatched past its signing deadline, or
-- replied past its return-visit deadline. Each is a range of one deadline among
-- the requests of one or three states — a few thousand of millions — so each
-- gets a partial index over just those requests. Before, the queue read every
-- open request through requests_state (tens of thousands of table rows at
-- 10M requests: 9 pages a second on the generated set).
CREATE INDEX requests_due_handle ON requests (tenant_id, handle_due_at)
  WHERE state IN ('dispatched', 'signed', 'in_progress');
CREATE INDEX requests_due_sign ON requests (tenant_id, sign_due_at) WHERE state = 'dispatched';
CREATE INDEX requests_due_visit ON requests (tenant_id, visit_due_at) WHERE state = 'replied';
