-- 022: CHECK constraints without IN lists (SQLite).
-- SQLite evaluates `x IN ('a', 'b', 'c')` of three values or more by building
-- an ephemeral table of the values — opened, filled and closed again on every
-- INSERT (and on every UPDATE of the column). A request's INSERT built four of
-- them, a fifth of its cost on the writer. The same constraints as chains of
-- equalities are compared in place. Changing a CHECK constraint to an
-- equivalent one does not touch the stored rows, so SQLite's documented
-- procedure for it applies (edit the table's SQL with writable_schema, then
-- move the schema cookie so that every connection reads the schema again):
-- instant at any size. New constraints: write them as OR chains (two values
-- may stay an IN list: SQLite compares up to two in place).
-- @only sqlite
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (kind IN (''enterprise'', ''individual'', ''cooperative''))',
  'CHECK (kind = ''enterprise'' OR kind = ''individual'' OR kind = ''cooperative'')')
  WHERE type = 'table' AND name = 'enterprises';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (size_class IN ('''', ''large'', ''medium'', ''small'', ''micro''))',
  'CHECK (size_class = '''' OR size_class = ''large'' OR size_class = ''medium'' OR size_class = ''small'' OR size_class = ''micro'')')
  WHERE type = 'table' AND name = 'enterprises';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (status IN (''active'', ''moved_out'', ''deregistered'', ''revoked''))',
  'CHECK (status = ''active'' OR status = ''moved_out'' OR status = ''deregistered'' OR status = ''revoked'')')
  WHERE type = 'table' AND name = 'enterprises';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (level IN (''district'', ''street'', ''community'', ''unit''))',
  'CHECK (level = ''district'' OR level = ''street'' OR level = ''community'' OR level = ''unit'')')
  WHERE type = 'table' AND name = 'grids';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (status IN (''open'', ''in_progress'', ''resolved'', ''closed''))',
  'CHECK (status = ''open'' OR status = ''in_progress'' OR status = ''resolved'' OR status = ''closed'')')
  WHERE type = 'table' AND name = 'ledger_items';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (datatype IN (''string'', ''number'', ''datetime'', ''text'',
                                             ''singlevaluelist'', ''multivaluelist''))',
  'CHECK (datatype = ''string'' OR datatype = ''number'' OR datatype = ''datetime'' OR datatype = ''text'' OR datatype = ''singlevaluelist'' OR datatype = ''multivaluelist'')')
  WHERE type = 'table' AND name = 'open311_attributes';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (status IN (''pending'', ''approved'', ''refused''))',
  'CHECK (status = ''pending'' OR status = ''approved'' OR status = ''refused'')')
  WHERE type = 'table' AND name = 'request_applications';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (dim IN (''none'', ''category'', ''grid'', ''type'', ''channel''))',
  'CHECK (dim = ''none'' OR dim = ''category'' OR dim = ''grid'' OR dim = ''type'' OR dim = ''channel'')')
  WHERE type = 'table' AND name = 'request_stats';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (dim IN (''none'', ''category'', ''grid'', ''type'', ''channel''))',
  'CHECK (dim = ''none'' OR dim = ''category'' OR dim = ''grid'' OR dim = ''type'' OR dim = ''channel'')')
  WHERE type = 'table' AND name = 'request_stats_month';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (channel IN (''online'', ''hall'', ''hotline'', ''grid'', ''observer'', ''qrcode'', ''open311''))',
  'CHECK (channel = ''online'' OR channel = ''hall'' OR channel = ''hotline'' OR channel = ''grid'' OR channel = ''observer'' OR channel = ''qrcode'' OR channel = ''open311'')')
  WHERE type = 'table' AND name = 'requests';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (req_type IN (''consultation'', ''help'', ''complaint'', ''suggestion'', ''report''))',
  'CHECK (req_type = ''consultation'' OR req_type = ''help'' OR req_type = ''complaint'' OR req_type = ''suggestion'' OR req_type = ''report'')')
  WHERE type = 'table' AND name = 'requests';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (urgency IN (''normal'', ''urgent'', ''critical''))',
  'CHECK (urgency = ''normal'' OR urgency = ''urgent'' OR urgency = ''critical'')')
  WHERE type = 'table' AND name = 'requests';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (rating IN ('''', ''satisfied'', ''basic'', ''unsatisfied'', ''unrated''))',
  'CHECK (rating = '''' OR rating = ''satisfied'' OR rating = ''basic'' OR rating = ''unsatisfied'' OR rating = ''unrated'')')
  WHERE type = 'table' AND name = 'requests';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (status IN (''pending'', ''delivered'', ''failed''))',
  'CHECK (status = ''pending'' OR status = ''delivered'' OR status = ''failed'')')
  WHERE type = 'table' AND name = 'webhook_deliveries';
PRAGMA writable_schema = OFF;
-- any schema change moves the cookie
CREATE TABLE yq_schema_cookie (x INTEGER);
DROP TABLE yq_schema_cookie;
-- @end
-- The same for the partial index of requests being handled (sql/021): its
-- WHERE is evaluated on every INSERT and UPDATE of a request. Queries that
-- use it spell its WHERE the same way (REQ_HANDLING_SQL in core/request.h).
DROP INDEX requests_due_handle;
CREATE INDEX requests_due_handle ON requests (tenant_id, handle_due_at)
  WHERE state = 'dispatched' OR state = 'signed' OR state = 'in_progress';
