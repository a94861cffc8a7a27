// Package client is the reference Doorstep device client: the phone's view of
// the sync service. It keeps a local SQLite store with an outbox, records
// edits offline, and brings the device and the server together with Sync.
// The Android and iOS apps port it, or bind it with gomobile; it imports
// nothing but syncproto, the pure-Go SQLite driver and google/uuid.
//
// # Local store
//
// One file, <dir>/device.db (WAL, synchronous=FULL, busy timeout), with:
//
//   - records: the device's copy of every record it may see, keyed by
//     (entity, id). base is the server's last known state and version its
//     server version (0 = the server has never confirmed the record); data is
//     what the app shows: base with the pending outbox edits applied on top.
//   - outbox: edits not yet confirmed by the server, in seq order. Each has a
//     client-generated mutation_id (UUID), the fields it set, base_version
//     (the server version it was made against) and the device clock.
//   - rejections: verdicts the server refused, with the device's values, so
//     that nothing the officer typed is silently lost.
//   - conflicts: fields where the server kept another value than the device's.
//   - meta: server URL, the device id (a UUID generated once), tokens, the
//     pull cursor, the signed-in user.
//
// A local edit (CreateVisit, UpdateHousehold, Mutate, ...) changes records
// and appends to the outbox in ONE local transaction, so the app shows it at
// once and it is never shown without also being queued.
//
// # Sync: idle → pushing → pulling → idle
//
// Sync runs one at a time per client:
//
//  1. pushing: take up to PushBatch outbox rows in seq order and POST them to
//     /api/v1/sync/push. Store every result in one local transaction: accepted
//     and merged results replace base with the server's current record,
//     rejected ones go to the rejections table and base goes back to the
//     server's record when the result carries one; field conflicts go to the
//     conflicts table. Only then do the mutations leave the outbox. Repeat
//     until the outbox is empty. A push whose response was lost is simply sent
//     again: the server is idempotent by mutation_id and answers with the
//     original results.
//  2. pulling: POST /api/v1/sync/pull with the stored cursor until has_more is
//     false. Each page and its cursor are stored in one local transaction, so a
//     kill at any point leaves the device at a consistent checkpoint. Every
//     DigestEvery syncs (or when asked) the pulls carry the digest of what the
//     device holds; the server compares it on a pull that finds nothing new
//     after the cursor (one extra pull when the last page brought news) and
//     answers resync_required on a mismatch. resync_required, and
//     invalid_cursor, wipe the downloaded records and the cursor — never the
//     outbox — and pull again from scratch.
//
// A change delivered on pull replaces base, and data is rebuilt as base plus
// the still-pending edits, so an officer's unsent work stays visible over
// fresher server data. A "remove" drops the household and every record under
// it (the household left the officer's scope); a "delete" is a tombstone.
// Records of entity "rejection" are verdicts re-delivered for a device that
// lost a push response; they go to the rejections table and, when the mutation
// is still in the outbox, take it out.
//
// # Requests and retries
//
// Every request carries Doorstep-Protocol: 1; sync bodies carry device_time
// (the device clock, which may be wrong: the server measures the offset),
// pending_count and app_version. Bodies above GzipThreshold are sent gzipped,
// and gzip responses are accepted.
//
//   - Network errors, 5xx, 429 and 503 are retried up to MaxAttempts times with
//     exponential backoff and full jitter (sleep a uniform random time in
//     [0, min(BackoffMax, BackoffBase·2^attempt))), except that a Retry-After
//     header is honoured as given.
//   - Other 4xx are not retried, with two exceptions. 401 token_expired or
//     unauthenticated refreshes the token pair once (POST /api/v1/auth/refresh,
//     which rotates the refresh token; both tokens are stored in one local
//     transaction) and retries. 401 device_revoked, refresh_reused or
//     account_disabled, or a refused refresh, signs the device out: the tokens
//     are wiped and ErrSignedOut is returned. The outbox is kept, so signing in
//     again as the same officer sends it.
//   - A whole push refused with 400 or 413 is split in halves until the
//     offending mutation is alone; that one is moved to the rejections table
//     (code invalid_mutation) with its fields, so one bad edit never blocks
//     the queue.
//
// # Porting notes
//
// Keep the tokens in the platform's keychain rather than the database; keep
// everything else as here. gomobile binds only simple types: to bind this
// package, wrap the calls the app needs in a small package that passes
// records as JSON strings. Never run two syncs at once, never hold a local
// transaction across a network call, and never delete an outbox row before
// its result is stored.
package client
