-- Doorstep schema v1: the whole domain.
--
-- Portable SQL. The migrator rewrites a few type names for SQLite
-- (TIMESTAMPTZ -> DATETIME, JSONB -> TEXT, BYTEA -> BLOB, IDENTITY -> AUTOINCREMENT).
--
-- Every row carries branch_id and every primary key and index on household
-- data leads with it, so the data can be partitioned by branch later.
-- Money is integer fen. Dates without a time of day are 'YYYY-MM-DD' text.

CREATE TABLE org_units (
    id          TEXT PRIMARY KEY,
    branch_id   TEXT NOT NULL,
    parent_id   TEXT REFERENCES org_units(id),
    kind        TEXT NOT NULL CHECK (kind IN ('branch', 'county', 'outlet')),
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    path        TEXT NOT NULL,             -- '/<branch id>/<county id>/<outlet id>/'
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX org_units_branch ON org_units (branch_id, kind);
CREATE INDEX org_units_path ON org_units (path);

-- Townships and villages an outlet serves; village '' means the whole township.
CREATE TABLE service_areas (
    branch_id   TEXT NOT NULL,
    county      TEXT NOT NULL,
    township    TEXT NOT NULL,
    village     TEXT NOT NULL DEFAULT '',
    outlet_id   TEXT NOT NULL REFERENCES org_units(id),
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, county, township, village)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    branch_id     TEXT NOT NULL,
    org_unit_id   TEXT NOT NULL REFERENCES org_units(id),
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('officer', 'supervisor', 'branch_manager', 'admin')),
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_branch_unit ON users (branch_id, org_unit_id);

CREATE TABLE devices (
    id               TEXT PRIMARY KEY,
    branch_id        TEXT NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users(id),
    client_device_id TEXT NOT NULL,
    name             TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    app_version      TEXT NOT NULL DEFAULT '',
    last_seen_at     TIMESTAMPTZ,
    last_sync_at     TIMESTAMPTZ,
    clock_offset_ms  BIGINT NOT NULL DEFAULT 0,
    pending_changes  INTEGER NOT NULL DEFAULT 0,
    revoked_at       TIMESTAMPTZ,
    revoked_by       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, client_device_id)
);
CREATE INDEX devices_branch_user ON devices (branch_id, user_id);

-- Refresh tokens are stored as SHA-256 hashes only. A login starts a family;
-- each refresh rotates within it. Presenting a rotated token outside the grace
-- window revokes the family.
CREATE TABLE refresh_tokens (
    id           TEXT PRIMARY KEY,
    branch_id    TEXT NOT NULL,
    device_id    TEXT NOT NULL REFERENCES devices(id),
    family_id    TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    status       TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
    issued_at    TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    rotated_at   TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_device ON refresh_tokens (device_id);

CREATE TABLE login_attempts (
    key         TEXT NOT NULL,             -- 'user:<name>' or 'ip:<addr>'
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_attempts_key ON login_attempts (key, at);

-- Monitored households. Government-list fields are server-owned; the fields
-- an officer observes (phone, has_labor, lat, lng, situation_notes) merge by
-- corrected event time, recorded per field in field_times.
CREATE TABLE households (
    id               TEXT NOT NULL,
    branch_id        TEXT NOT NULL,
    county_id        TEXT REFERENCES org_units(id),
    outlet_id        TEXT REFERENCES org_units(id),
    officer_id       TEXT REFERENCES users(id),
    household_no     TEXT NOT NULL,
    head_name        TEXT NOT NULL,
    id_number_enc    BYTEA,
    id_number_bidx   TEXT NOT NULL DEFAULT '',
    id_number_masked TEXT NOT NULL DEFAULT '',
    phone_enc        BYTEA,
    phone_bidx       TEXT NOT NULL DEFAULT '',
    phone_masked     TEXT NOT NULL DEFAULT '',
    province         TEXT NOT NULL DEFAULT '',
    city             TEXT NOT NULL DEFAULT '',
    county           TEXT NOT NULL DEFAULT '',
    township         TEXT NOT NULL DEFAULT '',
    village          TEXT NOT NULL DEFAULT '',
    family_size      INTEGER NOT NULL DEFAULT 0,
    category         TEXT NOT NULL DEFAULT '',
    risk_type        TEXT NOT NULL DEFAULT '',
    has_labor        BOOLEAN NOT NULL DEFAULT FALSE,
    risk_eliminated  BOOLEAN NOT NULL DEFAULT FALSE,
    identified_on    TEXT NOT NULL DEFAULT '',
    lat              DOUBLE PRECISION,
    lng              DOUBLE PRECISION,
    location_source  TEXT NOT NULL DEFAULT '',   -- 'list' or 'visit'
    situation_notes  TEXT NOT NULL DEFAULT '',
    field_times      JSONB NOT NULL DEFAULT '{}',
    list_status      TEXT NOT NULL DEFAULT 'active' CHECK (list_status IN ('active', 'removed')),
    snapshot_id      TEXT,
    content_hash     TEXT NOT NULL DEFAULT '',   -- hash of the list fields, for cheap re-import
    version          BIGINT NOT NULL DEFAULT 1,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    removed_at       TIMESTAMPTZ,
    PRIMARY KEY (branch_id, id),
    UNIQUE (branch_id, household_no)
);
CREATE INDEX households_officer ON households (branch_id, officer_id);
CREATE INDEX households_outlet ON households (branch_id, outlet_id);
CREATE INDEX households_id_bidx ON households (branch_id, id_number_bidx);
CREATE INDEX households_phone_bidx ON households (branch_id, phone_bidx);

-- Responsibility history: one row per period a household is with an outlet
-- and officer. The open row (ended_at IS NULL) is the current assignment.
CREATE TABLE assignments (
    id               TEXT NOT NULL,
    branch_id        TEXT NOT NULL,
    household_id     TEXT NOT NULL,
    outlet_id        TEXT NOT NULL REFERENCES org_units(id),
    officer_id       TEXT REFERENCES users(id),
    outlet_due_on    TEXT NOT NULL DEFAULT '',
    officer_due_on   TEXT NOT NULL DEFAULT '',
    assigned_by      TEXT,
    assigned_at      TIMESTAMPTZ NOT NULL,
    ended_at         TIMESTAMPTZ,
    end_reason       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (branch_id, id),
    FOREIGN KEY (branch_id, household_id) REFERENCES households (branch_id, id)
);
CREATE INDEX assignments_household ON assignments (branch_id, household_id, assigned_at);
CREATE UNIQUE INDEX assignments_current ON assignments (branch_id, household_id) WHERE ended_at IS NULL;
CREATE INDEX assignments_officer ON assignments (branch_id, officer_id);

-- Each committed government list is a versioned snapshot with its change report.
CREATE TABLE list_snapshots (
    id            TEXT PRIMARY KEY,
    branch_id     TEXT NOT NULL,
    version       INTEGER NOT NULL,
    file_name     TEXT NOT NULL DEFAULT '',
    file_sha256   TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL CHECK (status IN ('previewed', 'committed', 'discarded')),
    summary       JSONB NOT NULL DEFAULT '{}',
    created_by    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    committed_at  TIMESTAMPTZ
);
CREATE INDEX list_snapshots_branch ON list_snapshots (branch_id, created_at);

CREATE TABLE snapshot_changes (
    branch_id     TEXT NOT NULL,
    snapshot_id   TEXT NOT NULL REFERENCES list_snapshots(id),
    household_no  TEXT NOT NULL,
    household_id  TEXT,
    kind          TEXT NOT NULL CHECK (kind IN ('added', 'removed', 'risk_eliminated', 'changed', 'returned')),
    fields        JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (branch_id, snapshot_id, household_no, kind)
);

CREATE TABLE visit_plans (
    id           TEXT NOT NULL,
    branch_id    TEXT NOT NULL,
    household_id TEXT NOT NULL,
    officer_id   TEXT NOT NULL REFERENCES users(id),
    planned_on   TEXT NOT NULL,
    window_end   TEXT NOT NULL DEFAULT '',
    notes        TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'done', 'cancelled')),
    created_by   TEXT NOT NULL,
    field_times  JSONB NOT NULL DEFAULT '{}',
    version      BIGINT NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    deleted_at   TIMESTAMPTZ,
    PRIMARY KEY (branch_id, id),
    FOREIGN KEY (branch_id, household_id) REFERENCES households (branch_id, id)
);
CREATE INDEX visit_plans_officer ON visit_plans (branch_id, officer_id, planned_on);
CREATE INDEX visit_plans_household ON visit_plans (branch_id, household_id);

CREATE TABLE visits (
    id             TEXT NOT NULL,
    branch_id      TEXT NOT NULL,
    household_id   TEXT NOT NULL,
    officer_id     TEXT NOT NULL REFERENCES users(id),
    outlet_id      TEXT REFERENCES org_units(id),
    device_id      TEXT,
    outcome        TEXT NOT NULL CHECK (outcome IN ('visited', 'refused', 'absent', 'moved')),
    situation      TEXT NOT NULL DEFAULT '',
    notes          TEXT NOT NULL DEFAULT '',
    lat            DOUBLE PRECISION,
    lng            DOUBLE PRECISION,
    accuracy_m     DOUBLE PRECISION,
    started_at     TIMESTAMPTZ NOT NULL,     -- device clock
    ended_at       TIMESTAMPTZ,              -- device clock
    visited_at     TIMESTAMPTZ NOT NULL,     -- corrected for clock offset
    received_at    TIMESTAMPTZ NOT NULL,
    clock_suspect  BOOLEAN NOT NULL DEFAULT FALSE,
    status         TEXT NOT NULL DEFAULT 'recorded' CHECK (status IN ('recorded', 'confirmed', 'has_issues')),
    reviewed_by    TEXT,
    reviewed_at    TIMESTAMPTZ,
    review_note    TEXT NOT NULL DEFAULT '',
    flags          JSONB NOT NULL DEFAULT '[]',
    after_close    BOOLEAN NOT NULL DEFAULT FALSE,
    field_times    JSONB NOT NULL DEFAULT '{}',
    version        BIGINT NOT NULL DEFAULT 1,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    deleted_at     TIMESTAMPTZ,
    PRIMARY KEY (branch_id, id),
    FOREIGN KEY (branch_id, household_id) REFERENCES households (branch_id, id)
);
CREATE INDEX visits_household ON visits (branch_id, household_id, visited_at);
CREATE INDEX visits_officer ON visits (branch_id, officer_id, visited_at);
CREATE INDEX visits_outlet_month ON visits (branch_id, outlet_id, visited_at);

CREATE TABLE financing_needs (
    id           TEXT NOT NULL,
    branch_id    TEXT NOT NULL,
    household_id TEXT NOT NULL,
    visit_id     TEXT,
    officer_id   TEXT NOT NULL REFERENCES users(id),
    purpose      TEXT NOT NULL DEFAULT '',
    amount_fen   BIGINT NOT NULL CHECK (amount_fen >= 0),
    status       TEXT NOT NULL DEFAULT 'recorded' CHECK (status IN ('recorded', 'referred', 'fulfilled', 'declined')),
    notes        TEXT NOT NULL DEFAULT '',
    field_times  JSONB NOT NULL DEFAULT '{}',
    version      BIGINT NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    deleted_at   TIMESTAMPTZ,
    PRIMARY KEY (branch_id, id),
    FOREIGN KEY (branch_id, household_id) REFERENCES households (branch_id, id)
);
CREATE INDEX financing_needs_household ON financing_needs (branch_id, household_id);

CREATE TABLE loan_products (
    id                    TEXT NOT NULL,
    branch_id             TEXT NOT NULL,
    code                  TEXT NOT NULL,
    name                  TEXT NOT NULL,
    max_amount_fen        BIGINT NOT NULL CHECK (max_amount_fen > 0),
    max_term_months       INTEGER NOT NULL CHECK (max_term_months > 0),
    collateral_required   BOOLEAN NOT NULL DEFAULT FALSE,
    government_guaranteed BOOLEAN NOT NULL DEFAULT FALSE,
    interest_subsidy      TEXT NOT NULL DEFAULT 'none' CHECK (interest_subsidy IN ('full', 'partial', 'none')),
    active                BOOLEAN NOT NULL DEFAULT TRUE,
    version               BIGINT NOT NULL DEFAULT 1,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, id),
    UNIQUE (branch_id, code)
);

CREATE TABLE loan_applications (
    id            TEXT NOT NULL,
    branch_id     TEXT NOT NULL,
    household_id  TEXT NOT NULL,
    need_id       TEXT,
    product_id    TEXT NOT NULL,
    officer_id    TEXT NOT NULL REFERENCES users(id),
    amount_fen    BIGINT NOT NULL CHECK (amount_fen > 0),
    term_months   INTEGER NOT NULL CHECK (term_months > 0),
    purpose       TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'submitted', 'under_review', 'approved', 'rejected', 'disbursed', 'withdrawn')),
    submitted_at  TIMESTAMPTZ,
    decided_by    TEXT,
    decided_at    TIMESTAMPTZ,
    decision_note TEXT NOT NULL DEFAULT '',
    disbursed_at  TIMESTAMPTZ,
    field_times   JSONB NOT NULL DEFAULT '{}',
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    deleted_at    TIMESTAMPTZ,
    PRIMARY KEY (branch_id, id),
    FOREIGN KEY (branch_id, household_id) REFERENCES households (branch_id, id),
    FOREIGN KEY (branch_id, product_id) REFERENCES loan_products (branch_id, id)
);
CREATE INDEX loan_applications_household ON loan_applications (branch_id, household_id);

-- Work a supervisor addresses to an officer (revisit, correct).
CREATE TABLE tasks (
    id           TEXT NOT NULL,
    branch_id    TEXT NOT NULL,
    officer_id   TEXT NOT NULL REFERENCES users(id),
    household_id TEXT,
    visit_id     TEXT,
    kind         TEXT NOT NULL CHECK (kind IN ('revisit', 'correct')),
    reason       TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    created_by   TEXT NOT NULL,
    version      BIGINT NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, id)
);
CREATE INDEX tasks_officer ON tasks (branch_id, officer_id, status);

-- Sync bookkeeping -------------------------------------------------------

-- One counter per branch. A writing transaction bumps it as its last step and
-- holds the row lock until commit, so change numbers commit in order within a
-- branch and a pull cursor can never skip a late-committing transaction.
CREATE TABLE change_counters (
    branch_id   TEXT PRIMARY KEY,
    last_seq    BIGINT NOT NULL
);

-- The change log: which records changed in which server transaction (seq).
-- Rows of one transaction share seq and are ordered by ord. Record state is
-- read from the entity tables at pull time. audience_user_id addresses a row
-- to one user (scope additions and removals, tasks, rejections).
CREATE TABLE changes (
    branch_id        TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    ord              INTEGER NOT NULL,
    entity           TEXT NOT NULL,
    entity_id        TEXT NOT NULL,
    op               TEXT NOT NULL CHECK (op IN ('upsert', 'delete', 'scope_add', 'scope_remove')),
    household_id     TEXT,
    audience_user_id TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, seq, ord)
);
CREATE INDEX changes_audience ON changes (branch_id, audience_user_id, seq);
CREATE INDEX changes_household ON changes (branch_id, household_id, seq);

-- Per-device mutation log. Written in the same transaction as the mutation's
-- effect; a retried push returns the stored results.
CREATE TABLE device_mutations (
    branch_id    TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    mutation_id  TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    entity       TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('accepted', 'merged', 'rejected')),
    result       JSONB NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, device_id, mutation_id),
    UNIQUE (branch_id, device_id, seq)
);

-- Every conflict and every rejection: both versions, the rule, the winner.
CREATE TABLE conflicts (
    id            TEXT NOT NULL,
    branch_id     TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('conflict', 'rejection')),
    user_id       TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    mutation_id   TEXT NOT NULL,
    entity        TEXT NOT NULL,
    entity_id     TEXT NOT NULL,
    household_id  TEXT,
    outlet_id     TEXT,
    field         TEXT NOT NULL DEFAULT '',
    rule          TEXT NOT NULL,
    code          TEXT NOT NULL DEFAULT '',
    message       TEXT NOT NULL DEFAULT '',
    device_value  JSONB,
    server_value  JSONB,
    winner        TEXT NOT NULL DEFAULT 'server',
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (branch_id, id)
);
CREATE INDEX conflicts_outlet ON conflicts (branch_id, outlet_id, created_at);
CREATE INDEX conflicts_user ON conflicts (branch_id, user_id, created_at);

-- Append-only audit log; triggers refuse UPDATE and DELETE.
CREATE TABLE audit_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    branch_id    TEXT NOT NULL DEFAULT '',
    actor_id     TEXT NOT NULL DEFAULT '',
    actor_role   TEXT NOT NULL DEFAULT '',
    action       TEXT NOT NULL,
    target_type  TEXT NOT NULL DEFAULT '',
    target_id    TEXT NOT NULL DEFAULT '',
    details      JSONB NOT NULL DEFAULT '{}',
    request_id   TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_branch ON audit_log (branch_id, created_at);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id);
