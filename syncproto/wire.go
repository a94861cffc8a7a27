package syncproto

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"time"
)

// Protocol versioning. Every sync request carries HeaderProtocol; a server
// answers 426 with the supported range when the version is missing or outside it.
const (
	HeaderProtocol  = "Doorstep-Protocol"
	ProtocolVersion = 1
	MinProtocol     = 1
	MaxProtocol     = 1
)

// Documented caps. Exceeding one gets 413 or 400 with a code naming the cap.
const (
	MaxMutationsPerPush = 1000
	MaxPushBodyBytes    = 8 << 20 // decompressed
	MaxPullLimit        = 2000    // changes per page
	DefaultPullLimit    = 500
	MaxFieldBytes       = 8 << 10 // one text field
)

// Error is the body of every error response: {code, message, details}.
type Error struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes a device must handle. The full table is in mobile-api-docs.
const (
	CodeInvalidRequest      = "invalid_request"
	CodeBodyTooLarge        = "body_too_large"
	CodeUnauthenticated     = "unauthenticated"
	CodeTokenExpired        = "token_expired"
	CodeDeviceRevoked       = "device_revoked" // sign out and wipe local data
	CodeRefreshReused       = "refresh_reused" // sign out: the token family was revoked
	CodeInvalidCredentials  = "invalid_credentials"
	CodeTooManyAttempts     = "too_many_attempts"
	CodeAccountDisabled     = "account_disabled"
	CodeForbidden           = "forbidden"
	CodeNotFound            = "not_found"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodeConflict            = "conflict"
	CodeUnsupportedProtocol = "unsupported_protocol"
	CodeTooManyMutations    = "too_many_mutations"
	CodeInvalidCursor       = "invalid_cursor"
	CodeInternal            = "internal"
	CodeUnavailable         = "unavailable"
)

// --- Auth -------------------------------------------------------------------

// LoginRequest is the body of POST /api/v1/auth/login. The device is
// registered to the user on its first login.
type LoginRequest struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	DeviceID   string `json:"device_id"`
	DeviceName string `json:"device_name"`
	AppVersion string `json:"app_version,omitempty"`
}

// RefreshRequest is the body of POST /api/v1/auth/refresh and /logout.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// TokenResponse answers login and refresh.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"` // seconds
	UserID       string `json:"user_id"`
	Role         string `json:"role"`
	DeviceID     string `json:"device_id"`
}

// Roles.
const (
	RoleOfficer       = "officer"
	RoleSupervisor    = "supervisor"
	RoleBranchManager = "branch_manager"
	RoleAdmin         = "admin"
)

// --- Sync -------------------------------------------------------------------

// Entities that travel in sync.
const (
	EntityHousehold   = "household"
	EntityVisit       = "visit"
	EntityVisitPlan   = "visit_plan"
	EntityNeed        = "financing_need"
	EntityLoan        = "loan_application"
	EntityLoanProduct = "loan_product"
	EntityTask        = "task"
	EntityRejection   = "rejection"
)

// Mutation operations a device may send.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
)

// Mutation is one edit made on a device. MutationID makes it idempotent;
// Seq orders it among the device's mutations.
type Mutation struct {
	MutationID  string                     `json:"mutation_id"`
	Seq         int64                      `json:"seq"`
	Entity      string                     `json:"entity"`
	Op          string                     `json:"op"`
	EntityID    string                     `json:"entity_id"`
	BaseVersion int64                      `json:"base_version"`
	DeviceTime  time.Time                  `json:"device_time"`
	Fields      map[string]json.RawMessage `json:"fields,omitempty"`
}

// PushRequest is the body of POST /api/v1/sync/push.
type PushRequest struct {
	DeviceTime   time.Time  `json:"device_time"`
	PendingCount int        `json:"pending_count"`
	AppVersion   string     `json:"app_version,omitempty"`
	Mutations    []Mutation `json:"mutations"`
}

// Mutation outcomes.
const (
	StatusAccepted = "accepted"
	StatusMerged   = "merged"
	StatusRejected = "rejected"
)

// MutationResult is the server's verdict on one mutation. A retried push gets
// the very same results back.
type MutationResult struct {
	MutationID string          `json:"mutation_id"`
	Seq        int64           `json:"seq"`
	Status     string          `json:"status"`
	Version    int64           `json:"version,omitempty"`
	Rejection  *Rejection      `json:"rejection,omitempty"`
	Conflicts  []FieldConflict `json:"conflicts,omitempty"`
	Current    json.RawMessage `json:"current,omitempty"` // the server's record after the verdict
}

// Rejection says why a mutation was not applied.
type Rejection struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// FieldConflict records a field where the device's value lost.
type FieldConflict struct {
	Field       string          `json:"field"`
	Rule        string          `json:"rule"`
	DeviceValue json.RawMessage `json:"device_value"`
	ServerValue json.RawMessage `json:"server_value"`
	Winner      string          `json:"winner"` // "server" or "device"
}

// Rejection codes.
const (
	RejectInvalidField    = "invalid_field"
	RejectUnknownField    = "unknown_field"
	RejectServerOwned     = "server_owned_field"
	RejectNotFound        = "not_found"
	RejectOutOfScope      = "out_of_scope"
	RejectAlreadyExists   = "already_exists"
	RejectConfirmed       = "visit_confirmed"
	RejectIllegalState    = "illegal_transition"
	RejectNotDraft        = "not_draft"
	RejectProductLimit    = "product_limit"
	RejectDependency      = "dependency_rejected"
	RejectDuplicateSeq    = "duplicate_sequence"
	RejectUnsupported     = "unsupported_operation"
	RejectStatusBackwards = "status_backwards"
	RejectInvalidMutation = "invalid_mutation"
)

// PushResponse answers a push.
type PushResponse struct {
	ServerTime    time.Time        `json:"server_time"`
	ClockOffsetMS int64            `json:"clock_offset_ms"`
	Results       []MutationResult `json:"results"`
}

// PullRequest is the body of POST /api/v1/sync/pull. An empty cursor starts
// a full sync of the device's scope.
type PullRequest struct {
	Cursor       string    `json:"cursor"`
	Limit        int       `json:"limit,omitempty"`
	DeviceTime   time.Time `json:"device_time"`
	PendingCount int       `json:"pending_count"`
	AppVersion   string    `json:"app_version,omitempty"`
	Digest       string    `json:"digest,omitempty"` // see Digest
}

// Change operations in a pull.
const (
	ChangeUpsert = "upsert"
	ChangeDelete = "delete" // tombstone: drop the record
	ChangeRemove = "remove" // the household left the device's scope: drop it and everything under it
)

// Change is one record state delivered to a device.
type Change struct {
	Entity      string          `json:"entity"`
	ID          string          `json:"id"`
	Op          string          `json:"op"`
	HouseholdID string          `json:"household_id,omitempty"`
	Version     int64           `json:"version"`
	Data        json.RawMessage `json:"data,omitempty"`
}

// PullResponse is one page. Every page ends on a server-transaction boundary,
// so a device that stores the changes and the cursor together is always at a
// consistent checkpoint.
type PullResponse struct {
	Cursor         string    `json:"cursor"`
	HasMore        bool      `json:"has_more"`
	ResyncRequired bool      `json:"resync_required,omitempty"`
	ServerTime     time.Time `json:"server_time"`
	ClockOffsetMS  int64     `json:"clock_offset_ms"`
	Changes        []Change  `json:"changes"`
}

// DigestItem names one record a device holds.
type DigestItem struct {
	Entity  string
	ID      string
	Version int64
}

// Digest summarises what a device holds: SHA-256 over the sorted
// "entity:id:version" lines, hex-encoded. Rejections are not included.
func Digest(items []DigestItem) string {
	lines := make([]string, 0, len(items))
	for _, it := range items {
		lines = append(lines, it.Entity+":"+it.ID+":"+strconv.FormatInt(it.Version, 10))
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}
