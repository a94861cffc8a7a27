// Package config reads the server's configuration from flags and DOORSTEP_*
// environment variables (flags win), fills defaults and validates it once at
// start, so that a mistake is reported before anything listens.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is everything `doorstep serve` needs.
type Config struct {
	DatabaseURL    string
	DataDir        string
	Listen         string
	TrustedProxies []string
	LogLevel       string
	LogFormat      string
	SecretsFile    string
	AutoMigrate    bool
	Demo           bool

	Issuer       string
	Audience     string
	AccessTTL    time.Duration
	RefreshTTL   time.Duration
	RefreshGrace time.Duration
	MaxBodyBytes int64
	// MaxInFlight caps concurrent API requests; more wait up to QueueWait,
	// then get 503 with Retry-After. It bounds memory and keeps latency
	// flat when a thousand phones find signal at once. The wait is long
	// (30 s by default) because a phone on a weak link would rather wait
	// than send its push again; the reference client's 60 s timeout leaves
	// room for the wait and the request.
	MaxInFlight   int
	QueueWait     time.Duration
	ShutdownGrace time.Duration
	PublicURL     string
	TimeZone      string

	// ReportClose is when the schedule closes the previous month's report:
	// "DAY HH:MM" local time (day 1-28), or "off".
	ReportClose string
	// ReportRestateAfter is how long late data for a closed month must be
	// quiet before the restatement is issued.
	ReportRestateAfter time.Duration
}

// Register adds the flags to fs with defaults taken from the environment.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.DatabaseURL, "database-url", env("DOORSTEP_DATABASE_URL", ""), "postgres:// URL; empty uses the embedded SQLite in --data-dir (DOORSTEP_DATABASE_URL)")
	fs.StringVar(&c.DataDir, "data-dir", env("DOORSTEP_DATA_DIR", "./doorstep-data"), "directory for the embedded database and generated keys (DOORSTEP_DATA_DIR)")
	fs.StringVar(&c.Listen, "listen", env("DOORSTEP_LISTEN", "127.0.0.1:8080"), "address to listen on (DOORSTEP_LISTEN)")
	proxies := env("DOORSTEP_TRUSTED_PROXIES", "")
	fs.Func("trusted-proxies", "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is trusted; empty trusts none (DOORSTEP_TRUSTED_PROXIES)", func(s string) error {
		proxies = s
		return nil
	})
	c.TrustedProxies = splitList(proxies)
	fs.StringVar(&c.LogLevel, "log-level", env("DOORSTEP_LOG_LEVEL", "info"), "debug, info, warn or error (DOORSTEP_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("DOORSTEP_LOG_FORMAT", "json"), "json or text (DOORSTEP_LOG_FORMAT)")
	fs.StringVar(&c.SecretsFile, "secrets-file", env("DOORSTEP_SECRETS_FILE", ""), "signing and encryption keys; generated with mode 0600 on first start if missing (default <data-dir>/secrets.json) (DOORSTEP_SECRETS_FILE)")
	fs.BoolVar(&c.AutoMigrate, "migrate", envBool("DOORSTEP_AUTO_MIGRATE", true), "apply pending migrations at start (DOORSTEP_AUTO_MIGRATE)")
	fs.StringVar(&c.Issuer, "token-issuer", env("DOORSTEP_TOKEN_ISSUER", "doorstep"), "JWT iss (DOORSTEP_TOKEN_ISSUER)")
	fs.StringVar(&c.Audience, "token-audience", env("DOORSTEP_TOKEN_AUDIENCE", "doorstep-api"), "JWT aud (DOORSTEP_TOKEN_AUDIENCE)")
	fs.DurationVar(&c.AccessTTL, "access-ttl", envDuration("DOORSTEP_ACCESS_TTL", 10*time.Minute), "access token lifetime, at most 15m (DOORSTEP_ACCESS_TTL)")
	fs.DurationVar(&c.RefreshTTL, "refresh-ttl", envDuration("DOORSTEP_REFRESH_TTL", 30*24*time.Hour), "refresh token lifetime (DOORSTEP_REFRESH_TTL)")
	fs.DurationVar(&c.RefreshGrace, "refresh-grace", envDuration("DOORSTEP_REFRESH_GRACE", 60*time.Second), "window in which a replayed refresh returns the same new pair (DOORSTEP_REFRESH_GRACE)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", envInt("DOORSTEP_MAX_BODY_BYTES", 8<<20), "request body cap, compressed and decompressed (DOORSTEP_MAX_BODY_BYTES)")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", int(envInt("DOORSTEP_MAX_IN_FLIGHT", 32)), "concurrent API requests served at once; the rest queue (DOORSTEP_MAX_IN_FLIGHT)")
	fs.DurationVar(&c.QueueWait, "queue-wait", envDuration("DOORSTEP_QUEUE_WAIT", 30*time.Second), "how long a request may queue for a slot before 503 (DOORSTEP_QUEUE_WAIT)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", envDuration("DOORSTEP_SHUTDOWN_GRACE", 20*time.Second), "how long shutdown waits for in-flight requests (DOORSTEP_SHUTDOWN_GRACE)")
	fs.StringVar(&c.PublicURL, "public-url", env("DOORSTEP_PUBLIC_URL", ""), "URL users open, for printed links (DOORSTEP_PUBLIC_URL)")
	fs.StringVar(&c.TimeZone, "time-zone", env("DOORSTEP_TIME_ZONE", "Asia/Shanghai"), "time zone for months and schedules (DOORSTEP_TIME_ZONE)")
	fs.StringVar(&c.ReportClose, "report-close", env("DOORSTEP_REPORT_CLOSE", DefaultReportClose), "when the schedule closes the previous month's report: 'DAY HH:MM' local time (day 1-28), or 'off' (DOORSTEP_REPORT_CLOSE)")
	fs.DurationVar(&c.ReportRestateAfter, "report-restate-after", envDuration("DOORSTEP_REPORT_RESTATE_AFTER", time.Hour), "how long late data for a closed month must be quiet before its restatement is issued (DOORSTEP_REPORT_RESTATE_AFTER)")
}

// Finish validates the configuration and fills derived values.
func (c *Config) Finish() error {
	var errs []error
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("DOORSTEP_DATABASE_URL must be a postgres:// URL (leave it empty for the embedded SQLite)"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	// The embedded database is opened through a file: URI, where these
	// characters would silently name a different file.
	if strings.ContainsAny(c.DataDir, "?#%") {
		errs = append(errs, fmt.Errorf("--data-dir %q must not contain '?', '#' or '%%'", c.DataDir))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %w", c.Listen, err))
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			errs = append(errs, fmt.Errorf("trusted proxy %q is neither an IP nor a CIDR", p))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log format %q: want json or text", c.LogFormat))
	}
	if c.AccessTTL <= 0 || c.AccessTTL > 15*time.Minute {
		errs = append(errs, fmt.Errorf("access token lifetime %s: must be between 0 and 15m", c.AccessTTL))
	}
	if c.RefreshTTL < time.Hour {
		errs = append(errs, fmt.Errorf("refresh token lifetime %s: must be at least 1h", c.RefreshTTL))
	}
	if c.RefreshGrace < 0 || c.RefreshGrace > 5*time.Minute {
		errs = append(errs, fmt.Errorf("refresh grace %s: must be between 0 and 5m", c.RefreshGrace))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("max in-flight %d must be at least 1", c.MaxInFlight))
	}
	if c.QueueWait < 0 {
		errs = append(errs, fmt.Errorf("queue wait %s must not be negative", c.QueueWait))
	}
	if c.MaxBodyBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("max body bytes %d is too small", c.MaxBodyBytes))
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("time zone %q: %w", c.TimeZone, err))
	}
	if c.ReportClose == "" {
		c.ReportClose = DefaultReportClose
	}
	if _, _, _, _, err := ParseReportClose(c.ReportClose); err != nil {
		errs = append(errs, err)
	}
	if c.ReportRestateAfter < 0 {
		errs = append(errs, fmt.Errorf("report restate delay %s must not be negative", c.ReportRestateAfter))
	}
	if c.SecretsFile == "" {
		c.SecretsFile = filepath.Join(c.DataDir, "secrets.json")
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	}
	return errors.Join(errs...)
}

// DefaultReportClose closes the previous month on the 1st at 00:30 local time.
const DefaultReportClose = "1 00:30"

var reportClosePattern = regexp.MustCompile(`^([0-9]{1,2}) ([0-9]{2}):([0-9]{2})$`)

// ParseReportClose reads the report close schedule: "DAY HH:MM" (day 1-28,
// local time) or "off".
func ParseReportClose(s string) (on bool, day, hour, minute int, err error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		return false, 0, 0, 0, nil
	}
	m := reportClosePattern.FindStringSubmatch(s)
	if m != nil {
		day, _ = strconv.Atoi(m[1])
		hour, _ = strconv.Atoi(m[2])
		minute, _ = strconv.Atoi(m[3])
		if day >= 1 && day <= 28 && hour <= 23 && minute <= 59 {
			return true, day, hour, minute, nil
		}
	}
	return false, 0, 0, 0, fmt.Errorf("report close schedule %q: want \"DAY HH:MM\" with day 1-28 (e.g. \"1 00:30\") or \"off\"", s)
}

// Location is the configured time zone.
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func envBool(key string, def bool) bool {
	if v, ok := os.LookupEnv(key); ok {
		b, err := strconv.ParseBool(v)
		if err == nil {
			return b
		}
	}
	return def
}

func envInt(key string, def int64) int64 {
	if v, ok := os.LookupEnv(key); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil {
			return n
		}
	}
	return def
}

func envDuration(key string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(key); ok {
		d, err := time.ParseDuration(v)
		if err == nil {
			return d
		}
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
