package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	// Pure-Go SQLite, registered as driver "sqlite".
	_ "github.com/glebarez/go-sqlite"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// Options configure a client. Zero values take the defaults noted.
type Options struct {
	// BaseURL is the server, e.g. https://doorstep.example.cn. When set it is
	// stored; when empty the stored one is used.
	BaseURL string
	// HTTP is the client used for requests (default: 60 s timeout).
	HTTP *http.Client
	// Clock is the device clock, which may be wrong (default time.Now).
	Clock func() time.Time
	// Log receives structured diagnostics; never tokens, passwords, ID or
	// phone numbers (default: discard).
	Log *slog.Logger
	// AppVersion is sent with every sync request.
	AppVersion string
	// Language is "zh" (default) or "en": the language of server messages.
	Language string

	// MaxAttempts bounds the tries of one request (default 6).
	MaxAttempts int
	// BackoffBase and BackoffMax shape the exponential backoff with full
	// jitter (defaults 500 ms and 30 s).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// RetryAfterMax caps how long a server's Retry-After is honoured (default 5 min).
	RetryAfterMax time.Duration

	// PageLimit is the pull page size (default syncproto.DefaultPullLimit).
	PageLimit int
	// PushBatch is the number of mutations per push (default 200, at most
	// syncproto.MaxMutationsPerPush).
	PushBatch int
	// DigestEvery sends a digest once every this many syncs (default 10;
	// negative: only when asked).
	DigestEvery int
	// GzipThreshold is the body size above which requests are gzipped
	// (default 1 KiB).
	GzipThreshold int

	// OnRequest, when set, is called after every HTTP attempt. The load
	// generator uses it for latency figures.
	OnRequest func(RequestInfo)
}

// RequestInfo describes one HTTP attempt.
type RequestInfo struct {
	Path     string
	Attempt  int // 1 for the first try
	Status   int // 0 when no response arrived
	Code     string
	Duration time.Duration
	Sent     int // request body bytes on the wire
	Err      error
}

func (o *Options) fill() {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Language == "" {
		o.Language = "zh"
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 500 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	if o.RetryAfterMax <= 0 {
		o.RetryAfterMax = 5 * time.Minute
	}
	if o.PageLimit <= 0 {
		o.PageLimit = syncproto.DefaultPullLimit
	}
	if o.PageLimit > syncproto.MaxPullLimit {
		o.PageLimit = syncproto.MaxPullLimit
	}
	if o.PushBatch <= 0 {
		o.PushBatch = 200
	}
	if o.PushBatch > syncproto.MaxMutationsPerPush {
		o.PushBatch = syncproto.MaxMutationsPerPush
	}
	if o.DigestEvery == 0 {
		o.DigestEvery = 10
	}
	if o.GzipThreshold <= 0 {
		o.GzipThreshold = 1 << 10
	}
}

// Client is one device: its local store and its link to the server.
// Its methods are safe for concurrent use; syncs run one at a time.
type Client struct {
	db       *sql.DB
	dir      string
	opts     Options
	log      *slog.Logger
	deviceID string

	syncMu sync.Mutex // one Sync at a time
	authMu sync.Mutex // one token refresh at a time
}

// Meta keys.
const (
	metaServerURL      = "server_url"
	metaDeviceID       = "device_id"
	metaAccessToken    = "access_token"
	metaRefreshToken   = "refresh_token"
	metaCursor         = "cursor"
	metaUserID         = "user_id"
	metaUsername       = "username"
	metaRole           = "role"
	metaServerDeviceID = "server_device_id"
	metaLastSync       = "last_sync_at"
	metaClockOffset    = "clock_offset_ms"
	metaSyncsNoDigest  = "syncs_since_digest"
)

// Open opens (creating if needed) the device store in dir.
func Open(ctx context.Context, dir string, opts Options) (*Client, error) {
	opts.fill()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open device store: %w", err)
	}
	path := filepath.Join(dir, "device.db")
	dsn := "file:" + uriPath(path) + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open device store: %w", err)
	}
	// One connection: the app's writes queue in Go instead of failing with
	// "database is locked", and a transaction never waits on a read.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	c := &Client{db: db, dir: dir, opts: opts, log: opts.Log}
	if err := c.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
		db.Close()
		return nil, fmt.Errorf("open device store: %w", err)
	}
	err = c.tx(ctx, func(tx *sql.Tx) error {
		id, err := getMeta(tx, metaDeviceID)
		if err != nil {
			return err
		}
		if id == "" {
			id = uuid.NewString()
			if err := setMeta(tx, metaDeviceID, id); err != nil {
				return err
			}
		}
		c.deviceID = id
		if opts.BaseURL != "" {
			u, err := normalizeURL(opts.BaseURL)
			if err != nil {
				return err
			}
			return setMeta(tx, metaServerURL, u)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

// uriPath escapes the characters that end or escape a path in an SQLite
// file: URI, so that a directory named "a#b" or "a?b" opens that directory.
func uriPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// Close closes the local store.
func (c *Client) Close() error { return c.db.Close() }

// DeviceID is this installation's id, generated once and sent at login.
func (c *Client) DeviceID() string { return c.deviceID }

// Dir is the directory of the local store.
func (c *Client) Dir() string { return c.dir }

func normalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("server URL %q: want http:// or https:// with a host", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// SetServerURL stores the server address.
func (c *Client) SetServerURL(ctx context.Context, raw string) error {
	u, err := normalizeURL(raw)
	if err != nil {
		return err
	}
	return c.tx(ctx, func(tx *sql.Tx) error { return setMeta(tx, metaServerURL, u) })
}

// Session describes who is signed in on this device.
type Session struct {
	ServerURL      string
	DeviceID       string
	ServerDeviceID string
	UserID         string
	Username       string
	Role           string
	SignedIn       bool
	Cursor         string
	LastSyncAt     time.Time // server time of the last completed sync
	ClockOffset    time.Duration
}

// Session reads the sign-in state.
func (c *Client) Session(ctx context.Context) (Session, error) {
	m, err := c.metaAll(ctx)
	if err != nil {
		return Session{}, err
	}
	s := Session{
		ServerURL: m[metaServerURL], DeviceID: c.deviceID, ServerDeviceID: m[metaServerDeviceID],
		UserID: m[metaUserID], Username: m[metaUsername], Role: m[metaRole],
		SignedIn: m[metaRefreshToken] != "", Cursor: m[metaCursor],
	}
	if t, err := time.Parse(time.RFC3339Nano, m[metaLastSync]); err == nil {
		s.LastSyncAt = t
	}
	var ms int64
	fmt.Sscan(m[metaClockOffset], &ms)
	s.ClockOffset = time.Duration(ms) * time.Millisecond
	return s, nil
}
