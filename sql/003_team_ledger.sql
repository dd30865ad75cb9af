-- 003 service teams and the key-enterprise ledger: constraints and indexes
-- the queries of core/team.c and core/ledger.c rely on.

-- At most one lead (组长) per service team. team_assign demotes the previous
-- lead before promoting a new one; this index makes a second lead impossible
-- even if a future code path forgets to.
CREATE UNIQUE INDEX service_team_one_lead ON service_team_members (tenant_id, enterprise_id)
  WHERE role = 'lead';

-- Portfolio lists and the overload section of the blind-spot report walk one
-- official's rows in enterprise order.
CREATE INDEX service_team_user_enterprise ON service_team_members (tenant_id, user_id, enterprise_id);

-- Ledger pages filtered by official or by enterprise are read in id order
-- (keyset paging).
CREATE INDEX ledger_items_responsible_id ON ledger_items (tenant_id, responsible_user_id, id);
CREATE INDEX ledger_items_enterprise_id ON ledger_items (tenant_id, enterprise_id, id);
