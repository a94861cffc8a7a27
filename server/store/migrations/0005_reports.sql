-- Monthly visit reports: figures kept current from the change log, frozen
-- versions of closed months, restatements and the stored report files.
--
-- Every figure column is defined once, in server/store/report_figures.go;
-- docs/REPORTS.md is generated from the same table.

-- Where the report worker is in each branch's change log. The worker holds
-- this row locked while it works, so one instance processes a branch at a
-- time. as_of_date is the local date the overdue figures were last brought to.
CREATE TABLE report_cursors (
    branch_id   TEXT PRIMARY KEY,
    last_seq    BIGINT NOT NULL DEFAULT 0,
    as_of_date  TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Months whose figures are materialised, and whether a closed month has
-- data that arrived after its latest version.
CREATE TABLE report_months (
    branch_id       TEXT NOT NULL,
    month           TEXT NOT NULL,              -- 'YYYY-MM', local time
    opened_at       TIMESTAMPTZ NOT NULL,
    restate_pending BOOLEAN NOT NULL DEFAULT FALSE,
    pending_since   TIMESTAMPTZ,
    PRIMARY KEY (branch_id, month)
);

-- What the worker last saw of each record that feeds the figures: the month
-- it counted in and who it counted for. Comparing the stored fact with the
-- record's state now tells which officer-months a change touches, including
-- the old month of a visit whose corrected time moved.
CREATE TABLE report_facts (
    branch_id    TEXT NOT NULL,
    entity       TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    household_id TEXT NOT NULL,
    month        TEXT NOT NULL,
    end_month    TEXT NOT NULL DEFAULT '',
    officer_id   TEXT NOT NULL DEFAULT '',
    outlet_id    TEXT NOT NULL DEFAULT '',
    digest       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (branch_id, entity, entity_id)
);
CREATE INDEX report_facts_household ON report_facts (branch_id, household_id);

-- Current figures. level 'officer' rows are the base grain: one per officer
-- and the outlet and county the work was done in; officer_id '' holds the
-- households nobody is assigned to. Outlet, county and branch rows are sums.
CREATE TABLE report_rows (
    branch_id                 TEXT NOT NULL,
    month                     TEXT NOT NULL,
    level                     TEXT NOT NULL CHECK (level IN ('branch', 'county', 'outlet', 'officer')),
    county_id                 TEXT NOT NULL DEFAULT '',
    outlet_id                 TEXT NOT NULL DEFAULT '',
    officer_id                TEXT NOT NULL DEFAULT '',
    households_in_list        BIGINT NOT NULL DEFAULT 0,
    households_assigned       BIGINT NOT NULL DEFAULT 0,
    households_visited        BIGINT NOT NULL DEFAULT 0,
    visits_total              BIGINT NOT NULL DEFAULT 0,
    visits_first              BIGINT NOT NULL DEFAULT 0,
    visits_repeat             BIGINT NOT NULL DEFAULT 0,
    visits_confirmed          BIGINT NOT NULL DEFAULT 0,
    visits_flagged            BIGINT NOT NULL DEFAULT 0,
    households_with_needs     BIGINT NOT NULL DEFAULT 0,
    needs_amount_fen          BIGINT NOT NULL DEFAULT 0,
    loans_submitted           BIGINT NOT NULL DEFAULT 0,
    loans_submitted_fen       BIGINT NOT NULL DEFAULT 0,
    loans_approved            BIGINT NOT NULL DEFAULT 0,
    loans_approved_fen        BIGINT NOT NULL DEFAULT 0,
    loans_rejected            BIGINT NOT NULL DEFAULT 0,
    loans_rejected_fen        BIGINT NOT NULL DEFAULT 0,
    loans_disbursed           BIGINT NOT NULL DEFAULT 0,
    loans_disbursed_fen       BIGINT NOT NULL DEFAULT 0,
    assignments_overdue       BIGINT NOT NULL DEFAULT 0,
    first_visit_wait_seconds  BIGINT NOT NULL DEFAULT 0,
    first_visit_wait_count    BIGINT NOT NULL DEFAULT 0,
    updated_at                TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, month, level, county_id, outlet_id, officer_id)
);
CREATE INDEX report_rows_officer ON report_rows (branch_id, month, officer_id);

-- A version is a frozen copy of a month's figures: 1 when the month closes,
-- 2, 3, ... for each restatement after late data. Never changed once written.
CREATE TABLE report_versions (
    branch_id     TEXT NOT NULL,
    month         TEXT NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1),
    kind          TEXT NOT NULL CHECK (kind IN ('close', 'restatement')),
    created_by    TEXT NOT NULL DEFAULT '',     -- user id, or '' for the schedule
    reason        TEXT NOT NULL DEFAULT '',
    through_seq   BIGINT NOT NULL DEFAULT 0,     -- change log position the figures include
    late_records  INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, month, version)
);

CREATE TABLE report_version_rows (
    branch_id                 TEXT NOT NULL,
    month                     TEXT NOT NULL,
    version                   INTEGER NOT NULL,
    level                     TEXT NOT NULL,
    county_id                 TEXT NOT NULL DEFAULT '',
    outlet_id                 TEXT NOT NULL DEFAULT '',
    officer_id                TEXT NOT NULL DEFAULT '',
    households_in_list        BIGINT NOT NULL DEFAULT 0,
    households_assigned       BIGINT NOT NULL DEFAULT 0,
    households_visited        BIGINT NOT NULL DEFAULT 0,
    visits_total              BIGINT NOT NULL DEFAULT 0,
    visits_first              BIGINT NOT NULL DEFAULT 0,
    visits_repeat             BIGINT NOT NULL DEFAULT 0,
    visits_confirmed          BIGINT NOT NULL DEFAULT 0,
    visits_flagged            BIGINT NOT NULL DEFAULT 0,
    households_with_needs     BIGINT NOT NULL DEFAULT 0,
    needs_amount_fen          BIGINT NOT NULL DEFAULT 0,
    loans_submitted           BIGINT NOT NULL DEFAULT 0,
    loans_submitted_fen       BIGINT NOT NULL DEFAULT 0,
    loans_approved            BIGINT NOT NULL DEFAULT 0,
    loans_approved_fen        BIGINT NOT NULL DEFAULT 0,
    loans_rejected            BIGINT NOT NULL DEFAULT 0,
    loans_rejected_fen        BIGINT NOT NULL DEFAULT 0,
    loans_disbursed           BIGINT NOT NULL DEFAULT 0,
    loans_disbursed_fen       BIGINT NOT NULL DEFAULT 0,
    assignments_overdue       BIGINT NOT NULL DEFAULT 0,
    first_visit_wait_seconds  BIGINT NOT NULL DEFAULT 0,
    first_visit_wait_count    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (branch_id, month, version, level, county_id, outlet_id, officer_id),
    FOREIGN KEY (branch_id, month, version) REFERENCES report_versions (branch_id, month, version)
);

-- Records that changed a month's figures after it was closed. version is
-- set when a restatement takes them up, and never changes after that.
CREATE TABLE report_late_records (
    id            TEXT NOT NULL,
    branch_id     TEXT NOT NULL,
    month         TEXT NOT NULL,
    entity        TEXT NOT NULL,
    entity_id     TEXT NOT NULL,
    household_id  TEXT NOT NULL,
    officer_id    TEXT NOT NULL DEFAULT '',
    outlet_id     TEXT NOT NULL DEFAULT '',
    county_id     TEXT NOT NULL DEFAULT '',
    change_seq    BIGINT NOT NULL,
    arrived_at    TIMESTAMPTZ NOT NULL,
    version       INTEGER,
    PRIMARY KEY (branch_id, id)
);
CREATE INDEX report_late_records_month ON report_late_records (branch_id, month, version);

-- Generated report files of each version, in the database so that every
-- instance serves the same bytes.
CREATE TABLE report_files (
    branch_id     TEXT NOT NULL,
    month         TEXT NOT NULL,
    version       INTEGER NOT NULL,
    format        TEXT NOT NULL CHECK (format IN ('xlsx', 'csv')),
    lang          TEXT NOT NULL CHECK (lang IN ('zh', 'en')),
    file_name     TEXT NOT NULL,
    content       BYTEA NOT NULL,
    sha256        TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, month, version, format, lang),
    FOREIGN KEY (branch_id, month, version) REFERENCES report_versions (branch_id, month, version)
);
