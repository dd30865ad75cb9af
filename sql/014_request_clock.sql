-- 014 the handling clock of a request starts at the dispatch and starts
-- again when the request is reopened (重办): "due soon" is measured from it.

ALTER TABLE requests ADD COLUMN clock_from BIGINT NOT NULL DEFAULT 0;
UPDATE requests SET clock_from = dispatched_at;
