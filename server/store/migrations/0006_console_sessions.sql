-- Web console sessions. The browser holds a random session id in an HttpOnly
-- cookie; the server keeps only its SHA-256, so a copy of this table does not
-- let anyone sign in. Each session has its own CSRF token (synchronizer
-- token) that every form posts back. A session ends at expires_at, after
-- idle inactivity, or when revoked (sign-out, account change).
CREATE TABLE console_sessions (
    id_hash       TEXT PRIMARY KEY,
    branch_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users(id),
    csrf_token    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ,
    end_reason    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX console_sessions_user ON console_sessions (branch_id, user_id);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
