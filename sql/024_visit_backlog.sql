-- 024 the visit system's long work in chunks. A policy change used to
-- recompute every enterprise's visit state, and a campaign to resolve every
-- target, in the one write job of the change: seconds of the only writer on a
-- million enterprises. Now the change commits at once with a note of what is
-- left, and background write jobs of a few thousand enterprises each do the
-- rest in enterprise id order (core/visit_policy.c, core/campaign.c), each
-- moving the note on in its own transaction: a restart resumes where the last
-- committed chunk stopped.

-- The recomputation of the visit state of a tenant: the pass in progress
-- (finished_at NULL) or the last one. A policy change starts a new pass from
-- the first enterprise (generation + 1), also over one in progress.
CREATE TABLE visit_recompute (
  tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id),
  generation BIGINT NOT NULL,             -- policy changes so far
  next_id BIGINT NOT NULL,                -- every enterprise below this id is done in this pass
  last_id BIGINT NOT NULL,                -- the highest enterprise id when the pass started
  done BIGINT NOT NULL DEFAULT 0,         -- enterprises recomputed in this pass
  changed BIGINT NOT NULL DEFAULT 0,      -- of which whose state changed
  chunks BIGINT NOT NULL DEFAULT 0,       -- write jobs of this pass
  started_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  finished_at BIGINT                      -- NULL while the pass runs
);

-- A campaign's targets are resolved the same way: resolve_next is the next
-- enterprise id to resolve (NULL: resolved), resolve_last the highest
-- enterprise id when the campaign was created.
ALTER TABLE visit_campaigns ADD COLUMN resolve_next BIGINT;
ALTER TABLE visit_campaigns ADD COLUMN resolve_last BIGINT NOT NULL DEFAULT 0;
CREATE INDEX visit_campaigns_resolving ON visit_campaigns (tenant_id, resolve_next);
