-- Doorstep schema v4: supervisor coverage confirmation and visit verification.
--
-- Settings per branch, exemptions with a written reason, immutable monthly
-- sign-offs of an outlet's coverage, and the automatic flags computed for
-- every visit as it arrives. Months are 'YYYY-MM' in the configured time zone.

-- Thresholds of the ledger, the automatic flags and the spot checks. A branch
-- without a row uses the defaults below; the seed is made once per branch on
-- first use, so a month's spot-check sample never changes.
CREATE TABLE coverage_settings (
    branch_id            TEXT PRIMARY KEY,
    absent_attempts      INTEGER NOT NULL DEFAULT 3 CHECK (absent_attempts BETWEEN 1 AND 20),
    distance_threshold_m DOUBLE PRECISION NOT NULL DEFAULT 500 CHECK (distance_threshold_m > 0),
    low_accuracy_m       DOUBLE PRECISION NOT NULL DEFAULT 100 CHECK (low_accuracy_m > 0),
    max_speed_kmh        DOUBLE PRECISION NOT NULL DEFAULT 120 CHECK (max_speed_kmh > 0),
    min_duration_s       INTEGER NOT NULL DEFAULT 180 CHECK (min_duration_s >= 0),
    max_clock_offset_s   INTEGER NOT NULL DEFAULT 600 CHECK (max_clock_offset_s > 0),
    spot_check_size      INTEGER NOT NULL DEFAULT 5 CHECK (spot_check_size BETWEEN 1 AND 50),
    spot_check_seed      TEXT NOT NULL,
    updated_by           TEXT NOT NULL DEFAULT '',
    updated_at           TIMESTAMPTZ NOT NULL
);

-- A household that needs no visit this month, with the supervisor's reason.
-- One per household and month.
CREATE TABLE coverage_exemptions (
    id            TEXT NOT NULL,
    branch_id     TEXT NOT NULL,
    household_id  TEXT NOT NULL,
    month         TEXT NOT NULL,
    outlet_id     TEXT,
    reason        TEXT NOT NULL CHECK (reason <> ''),
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, id),
    UNIQUE (branch_id, household_id, month),
    FOREIGN KEY (branch_id, household_id) REFERENCES households (branch_id, id)
);
CREATE INDEX coverage_exemptions_month ON coverage_exemptions (branch_id, month, household_id);

-- A supervisor's sign-off of an outlet's month with the figures at that
-- moment. Immutable (triggers refuse UPDATE and DELETE); a correction is a new
-- row that supersedes the current one. The partial unique indexes keep the
-- chain linear: one first sign-off per outlet and month, and each sign-off
-- superseded at most once.
CREATE TABLE coverage_signoffs (
    id             TEXT NOT NULL,
    branch_id      TEXT NOT NULL,
    outlet_id      TEXT NOT NULL REFERENCES org_units(id),
    month          TEXT NOT NULL,
    signed_by      TEXT NOT NULL REFERENCES users(id),
    signed_at      TIMESTAMPTZ NOT NULL,
    note           TEXT NOT NULL DEFAULT '',
    supersedes_id  TEXT,
    figures        JSONB NOT NULL,
    PRIMARY KEY (branch_id, id)
);
CREATE INDEX coverage_signoffs_outlet ON coverage_signoffs (branch_id, outlet_id, month, signed_at);
CREATE UNIQUE INDEX coverage_signoffs_first ON coverage_signoffs (branch_id, outlet_id, month) WHERE supersedes_id IS NULL;
CREATE UNIQUE INDEX coverage_signoffs_chain ON coverage_signoffs (branch_id, supersedes_id) WHERE supersedes_id IS NOT NULL;

-- The automatic flags of each visit, one row per flag, for the review queue.
-- visits.flags holds the same list as JSON. Derived data: recomputed (rows
-- replaced) whenever the visit or its neighbours change.
CREATE TABLE visit_flags (
    branch_id   TEXT NOT NULL,
    visit_id    TEXT NOT NULL,
    code        TEXT NOT NULL,
    evidence    JSONB NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, visit_id, code)
);
CREATE INDEX visit_flags_code ON visit_flags (branch_id, code);

-- The ledger reads a month of visits for thousands of households at once.
CREATE INDEX visits_month ON visits (branch_id, visited_at, household_id, outcome, status) WHERE deleted_at IS NULL;
CREATE INDEX households_county ON households (branch_id, county_id);
CREATE INDEX financing_needs_recent ON financing_needs (branch_id, created_at);
CREATE INDEX tasks_visit ON tasks (branch_id, visit_id);
CREATE INDEX tasks_household ON tasks (branch_id, household_id, status);
