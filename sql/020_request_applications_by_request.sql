-- 020 a request's applications are found by the request (its page, the
-- pending application an action decides): the index of 010 leads with the
-- status, so these read every application of the district — a full scan of
-- a million rows per request detail at city scale (found by `yiqiban gen`).
CREATE INDEX request_applications_request ON request_applications (tenant_id, request_id, id);
