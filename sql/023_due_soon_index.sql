-- 023 the due-soon queue at city scale: a running request is due soon once the
-- working time since its clock started reaches 80 % of the time allowed
-- before its reply deadline. Deadlines fall at the end of working days, so
-- many requests share one, and among them the earlier the clock started the
-- more of the time is used: walked by (deadline, clock start), the queue
-- reads the requests it lists and one more per deadline (core/request.c),
-- instead of every running request of the district (~100k at 10M requests).
-- Its WHERE is the one of requests_due_handle (sql/022), an OR chain, and the
-- queue spells it the same way (REQ_HANDLING_SQL).
CREATE INDEX requests_due_soon ON requests (tenant_id, handle_due_at, clock_from)
  WHERE state = 'dispatched' OR state = 'signed' OR state = 'in_progress';
