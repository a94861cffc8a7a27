-- Visits are the table every push writes, hundreds of rows at a time. On
-- Postgres a foreign-key check locks the referenced row (FOR KEY SHARE) for
-- every inserted row: each pushed visit wrote a lock onto its household's
-- row, and every officer of an outlet locked the same org_units row, so
-- concurrent pushes of one outlet shared that row through a MultiXact. The
-- three checks cost a third of the push throughput (docs/BENCHMARKS.md).
--
-- The references hold without them:
--   - households, users and org units are never deleted (households leave a
--     list with removed_at, users and devices are deactivated);
--   - the sync engine writes a visit only for a household it loaded in the
--     officer's scope in the same transaction, with officer_id from the
--     caller's token and outlet_id from that household row;
--   - the randomised sync test (server/e2e) checks after every run that no
--     visit refers to a missing household, user or org unit.
-- Financing needs, loan applications and visit plans keep their foreign keys:
-- they are written one or two per visit at most.
ALTER TABLE visits
    DROP CONSTRAINT IF EXISTS visits_branch_id_household_id_fkey,
    DROP CONSTRAINT IF EXISTS visits_officer_id_fkey,
    DROP CONSTRAINT IF EXISTS visits_outlet_id_fkey;
