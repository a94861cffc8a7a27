-- Visits are the table every push writes, hundreds of rows at a time, so
-- each index and check on it costs every push.
--
-- visits_outlet_month (branch_id, outlet_id, visited_at) served no query:
-- supervisors reach visits through their households, and the month's
-- figures read visits by officer or by time (visits_officer, visits_month).
DROP INDEX IF EXISTS visits_outlet_month;

-- On Postgres the references to the household, the recording officer and
-- the outlet are checked by the sync engine instead of foreign keys; see
-- 0007_visit_references.postgres.sql. SQLite keeps its foreign keys.
