-- Doorstep schema v2: the monitored-household registry.
--
-- An import is computed first as a preview (a list_snapshots row in status
-- 'previewed' with its rows staged in import_rows and its findings in
-- import_problems) and applied later, whole, by an explicit commit of that
-- preview. The staged rows hold personal numbers sealed exactly as households
-- do, and are deleted once committed or discarded.

-- The committed list version a preview was computed against; a commit is
-- refused when the branch's list has moved on since.
ALTER TABLE list_snapshots ADD COLUMN base_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE list_snapshots ADD COLUMN error_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE list_snapshots ADD COLUMN change_count INTEGER NOT NULL DEFAULT 0;
-- Two commits can never claim the same version of a branch's list.
CREATE UNIQUE INDEX list_snapshots_committed_version ON list_snapshots (branch_id, version) WHERE status = 'committed';

-- The values the last list gave for the fields an officer may also edit
-- (phone, has_labor). A new list overwrites an officer's edit only when the
-- list's own value changed, never because the officer's value differs.
ALTER TABLE households ADD COLUMN list_phone_bidx TEXT NOT NULL DEFAULT '';
ALTER TABLE households ADD COLUMN list_has_labor BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE import_rows (
    branch_id            TEXT NOT NULL,
    preview_id           TEXT NOT NULL,   -- list_snapshots.id; no foreign key: staged rows are transient and written in bulk
    household_no         TEXT NOT NULL,
    line                 INTEGER NOT NULL DEFAULT 0,
    action               TEXT NOT NULL CHECK (action IN ('add', 'change', 'return', 'remove')),
    household_id         TEXT NOT NULL,
    -- A new or returning household, or one whose village now belongs to
    -- another outlet, starts a new assignment with this id.
    reassign             BOOLEAN NOT NULL DEFAULT FALSE,
    assignment_id        TEXT NOT NULL DEFAULT '',
    county_id            TEXT,
    outlet_id            TEXT,
    officer_id           TEXT,
    province             TEXT NOT NULL DEFAULT '',
    city                 TEXT NOT NULL DEFAULT '',
    county               TEXT NOT NULL DEFAULT '',
    township             TEXT NOT NULL DEFAULT '',
    village              TEXT NOT NULL DEFAULT '',
    head_name            TEXT NOT NULL DEFAULT '',
    id_number_enc        BYTEA,
    id_number_bidx       TEXT NOT NULL DEFAULT '',
    id_number_masked     TEXT NOT NULL DEFAULT '',
    phone_enc            BYTEA,
    phone_bidx           TEXT NOT NULL DEFAULT '',
    phone_masked         TEXT NOT NULL DEFAULT '',
    family_size          INTEGER NOT NULL DEFAULT 0,
    category             TEXT NOT NULL DEFAULT '',
    risk_type            TEXT NOT NULL DEFAULT '',
    has_labor            BOOLEAN NOT NULL DEFAULT FALSE,
    risk_eliminated      BOOLEAN NOT NULL DEFAULT FALSE,
    identified_on        TEXT NOT NULL DEFAULT '',
    content_hash         TEXT NOT NULL DEFAULT '',
    set_phone            BOOLEAN NOT NULL DEFAULT FALSE,
    set_has_labor        BOOLEAN NOT NULL DEFAULT FALSE,
    changed              BOOLEAN NOT NULL DEFAULT FALSE,   -- list fields other than the risk status changed
    newly_eliminated     BOOLEAN NOT NULL DEFAULT FALSE,   -- risk went from 未消除 to 已消除
    fields               JSONB NOT NULL DEFAULT '{}',      -- field -> {old, new}, personal numbers masked
    PRIMARY KEY (branch_id, preview_id, household_no)
);

-- What a dry run found: row errors block the commit, warnings (rows of
-- counties the branch does not serve, villages with no outlet) do not.
CREATE TABLE import_problems (
    branch_id    TEXT NOT NULL,
    preview_id   TEXT NOT NULL,           -- list_snapshots.id
    ord          INTEGER NOT NULL,
    line         INTEGER NOT NULL DEFAULT 0,
    col          TEXT NOT NULL DEFAULT '',
    code         TEXT NOT NULL,
    severity     TEXT NOT NULL CHECK (severity IN ('error', 'warning')),
    message      TEXT NOT NULL DEFAULT '',
    message_en   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (branch_id, preview_id, ord)
);
