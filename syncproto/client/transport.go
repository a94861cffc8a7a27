package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// ErrSignedOut means the device must sign in again: the server revoked the
// device or the token family, or the refresh token was refused. The tokens
// have been wiped; the outbox is kept unless the device was revoked.
var ErrSignedOut = errors.New("signed out: sign in again")

// ErrNotSignedIn means there are no tokens on the device.
var ErrNotSignedIn = errors.New("not signed in")

// SignedOutError carries the server's reason; errors.Is(err, ErrSignedOut) holds.
type SignedOutError struct {
	Code    string // syncproto.CodeDeviceRevoked, CodeRefreshReused, ...
	Message string
	// Discarded counts the unsent edits wiped with a revoked device. Revocation
	// is how a bank locks a lost phone, so the households' personal data and
	// the unsent edits must not stay on it; the app should tell the officer
	// how many were lost, and the server can never accept them from this
	// device again anyway.
	Discarded int
}

func (e *SignedOutError) Error() string { return "signed out (" + e.Code + "): sign in again" }
func (e *SignedOutError) Is(target error) bool {
	return target == ErrSignedOut
}

// APIError is an error response the client does not retry.
type APIError struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
}

func (e *APIError) Error() string {
	return fmt.Sprintf("server said %d %s: %s", e.Status, e.Code, e.Message)
}

// callOpts tune one call.
type callOpts struct {
	auth      bool // send the access token, refresh on 401
	retry429  bool // a 429 is retried (not for login: it would lengthen a lockout)
	noRefresh bool
}

// call POSTs in as JSON to path and decodes the answer into out, retrying as
// the package documentation describes.
func (c *Client) call(ctx context.Context, path string, in, out any, o callOpts) error {
	base, err := c.meta(ctx, metaServerURL)
	if err != nil {
		return err
	}
	if base == "" {
		return errors.New("no server address: sign in with a server URL first")
	}
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	gz := len(body) > c.opts.GzipThreshold
	if gz {
		body = gzipBytes(body)
	}
	refreshed := false
	for attempt := 1; ; attempt++ {
		token := ""
		if o.auth {
			if token, err = c.meta(ctx, metaAccessToken); err != nil {
				return err
			}
			if token == "" {
				if rt, _ := c.meta(ctx, metaRefreshToken); rt == "" {
					return ErrNotSignedIn
				}
			}
		}
		status, apiErr, retryAfter, err := c.attempt(ctx, base, path, body, gz, token, out, attempt)
		switch {
		case err == nil && apiErr == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case apiErr != nil && status == http.StatusUnauthorized:
			switch apiErr.Code {
			case syncproto.CodeDeviceRevoked, syncproto.CodeRefreshReused, syncproto.CodeAccountDisabled:
				return c.signOut(ctx, apiErr.Code, apiErr.Message)
			case syncproto.CodeTokenExpired, syncproto.CodeUnauthenticated:
				if o.auth && !o.noRefresh {
					if refreshed {
						// A fresh token refused too: only signing in again helps.
						return c.signOut(ctx, apiErr.Code, apiErr.Message)
					}
					refreshed = true
					if err := c.refresh(ctx, token); err != nil {
						return err
					}
					attempt--
					continue
				}
			}
			return apiErr
		case apiErr != nil && !retryableStatus(status, o.retry429):
			return apiErr
		}
		if attempt >= c.opts.MaxAttempts {
			if apiErr != nil {
				return apiErr
			}
			return fmt.Errorf("%s: gave up after %d attempts: %w", path, attempt, err)
		}
		wait := c.backoff(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, c.opts.RetryAfterMax)
		}
		c.log.Debug("retrying", "path", path, "attempt", attempt, "status", status, "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func retryableStatus(status int, retry429 bool) bool {
	if status == http.StatusTooManyRequests {
		return retry429
	}
	return status >= 500
}

// backoff is full jitter before retry n (= attempt): uniform in [0, min(max, base·2^n)).
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.opts.BackoffBase << min(attempt, 20)
	if ceil <= 0 || ceil > c.opts.BackoffMax {
		ceil = c.opts.BackoffMax
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// attempt makes one HTTP request. It returns either a transport error (to
// retry), an API error with its status, or nil with out filled.
func (c *Client) attempt(ctx context.Context, base, path string, body []byte, gz bool, token string, out any, n int) (int, *APIError, time.Duration, error) {
	start := time.Now()
	info := RequestInfo{Path: path, Attempt: n, Sent: len(body)}
	defer func() {
		if c.opts.OnRequest != nil {
			info.Duration = time.Since(start)
			c.opts.OnRequest(info)
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		info.Err = err
		return 0, nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set(syncproto.HeaderProtocol, strconv.Itoa(syncproto.ProtocolVersion))
	req.Header.Set("X-Request-ID", strings.ReplaceAll(uuid.NewString(), "-", ""))
	req.Header.Set("User-Agent", "doorstep-client/"+c.appVersion())
	if c.opts.Language == "en" {
		req.Header.Set("Accept-Language", "en")
	} else {
		req.Header.Set("Accept-Language", "zh-CN")
	}
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.opts.HTTP.Do(req)
	if err != nil {
		info.Err = err
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	info.Status = resp.StatusCode
	raw, err := io.ReadAll(resp.Body)
	if err == nil && len(raw) > 0 && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		// An empty body (204) may come labelled gzip too: nothing to inflate.
		raw, err = gunzip(raw)
	}
	if err != nil {
		// The connection dropped mid-body: the request may have been applied,
		// which is fine to repeat, since every call is idempotent.
		info.Err = err
		return resp.StatusCode, nil, 0, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				info.Err = err
				return resp.StatusCode, nil, 0, fmt.Errorf("decode response: %w", err)
			}
		}
		return resp.StatusCode, nil, 0, nil
	}
	var eb syncproto.Error
	apiErr := &APIError{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: http.StatusText(resp.StatusCode)}
	if json.Unmarshal(raw, &eb) == nil && eb.Code != "" {
		apiErr.Code, apiErr.Message, apiErr.Details = eb.Code, eb.Message, eb.Details
	}
	info.Code = apiErr.Code
	info.Err = apiErr
	return resp.StatusCode, apiErr, retryAfter(resp.Header.Get("Retry-After")), nil
}

func retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return time.Until(t)
	}
	return 0
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func (c *Client) appVersion() string {
	if c.opts.AppVersion == "" {
		return "dev"
	}
	return c.opts.AppVersion
}

// --- auth --------------------------------------------------------------------

// Login signs in and registers this device to the user. Signing in as a
// different officer is refused while the outbox holds the previous officer's
// edits; otherwise the previous officer's records are wiped first.
func (c *Client) Login(ctx context.Context, username, password, deviceName string) (Session, error) {
	prev, err := c.Session(ctx)
	if err != nil {
		return Session{}, err
	}
	if prev.Username != "" && prev.Username != username {
		n, err := c.PendingCount(ctx)
		if err != nil {
			return Session{}, err
		}
		if n > 0 {
			return Session{}, fmt.Errorf("%w: %d edits of %s are not yet synced", ErrOtherUserPending, n, prev.Username)
		}
	}
	var tr syncproto.TokenResponse
	err = c.call(ctx, "/api/v1/auth/login", syncproto.LoginRequest{
		Username: username, Password: password, DeviceID: c.deviceID, DeviceName: deviceName, AppVersion: c.opts.AppVersion,
	}, &tr, callOpts{})
	if err != nil {
		return Session{}, err
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" {
		return Session{}, errors.New("login: server sent no tokens")
	}
	err = c.tx(ctx, func(tx *sql.Tx) error {
		old, err := getMeta(tx, metaUserID)
		if err != nil {
			return err
		}
		if old != "" && old != tr.UserID {
			if err := c.wipeUserData(tx); err != nil {
				return err
			}
		}
		for k, v := range map[string]string{
			metaAccessToken: tr.AccessToken, metaRefreshToken: tr.RefreshToken, metaUserID: tr.UserID,
			metaUsername: username, metaRole: tr.Role, metaServerDeviceID: tr.DeviceID,
		} {
			if err := setMeta(tx, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Session{}, err
	}
	c.log.Info("signed in", "user_id", tr.UserID, "role", tr.Role)
	return c.Session(ctx)
}

// ErrOtherUserPending refuses a sign-in that would mix two officers' edits.
var ErrOtherUserPending = errors.New("another officer's edits are waiting to be synced on this device")

// wipeUserData drops everything of the signed-in user but the device id and
// server address.
func (c *Client) wipeUserData(tx *sql.Tx) error {
	for _, q := range []string{`DELETE FROM records`, `DELETE FROM rejections`, `DELETE FROM conflicts`, `DELETE FROM outbox`} {
		if _, err := tx.Exec(q); err != nil {
			return fmt.Errorf("wipe previous user: %w", err)
		}
	}
	return delMeta(tx, metaCursor, metaLastSync, metaClockOffset, metaSyncsNoDigest)
}

// Logout revokes the refresh token on the server (best effort) and wipes the
// tokens. Records and the outbox stay, so the same officer can sign in again
// and send them.
func (c *Client) Logout(ctx context.Context) error {
	rt, err := c.meta(ctx, metaRefreshToken)
	if err != nil {
		return err
	}
	var callErr error
	if rt != "" {
		callErr = c.call(ctx, "/api/v1/auth/logout", syncproto.RefreshRequest{RefreshToken: rt}, nil, callOpts{auth: true, noRefresh: true})
		if errors.Is(callErr, ErrSignedOut) {
			callErr = nil
		}
	}
	if err := c.tx(ctx, func(tx *sql.Tx) error { return delMeta(tx, metaAccessToken, metaRefreshToken) }); err != nil {
		return err
	}
	if callErr != nil {
		return fmt.Errorf("signed out on this device; the server was not told: %w", callErr)
	}
	return nil
}

// refresh rotates the token pair. stale is the access token that was refused:
// if another goroutine already replaced it, there is nothing to do.
func (c *Client) refresh(ctx context.Context, stale string) error {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	cur, err := c.meta(ctx, metaAccessToken)
	if err != nil {
		return err
	}
	if cur != stale && cur != "" {
		return nil
	}
	rt, err := c.meta(ctx, metaRefreshToken)
	if err != nil {
		return err
	}
	if rt == "" {
		return ErrNotSignedIn
	}
	var tr syncproto.TokenResponse
	// A lost refresh response is retried with the same token; the server's
	// grace window answers a replay with the same new pair.
	err = c.call(ctx, "/api/v1/auth/refresh", syncproto.RefreshRequest{RefreshToken: rt}, &tr, callOpts{retry429: true})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
		return c.signOut(ctx, apiErr.Code, apiErr.Message)
	}
	if err != nil {
		return fmt.Errorf("refresh token: %w", err)
	}
	if tr.AccessToken == "" || tr.RefreshToken == "" {
		return errors.New("refresh token: server sent no tokens")
	}
	return c.tx(ctx, func(tx *sql.Tx) error {
		if err := setMeta(tx, metaAccessToken, tr.AccessToken); err != nil {
			return err
		}
		return setMeta(tx, metaRefreshToken, tr.RefreshToken)
	})
}

// signOut wipes the tokens and returns the typed error. A revoked device also
// loses every record and its outbox (see SignedOutError.Discarded); for other
// reasons (reused refresh token, disabled account) the work stays, so the
// officer can sign in again and send it.
func (c *Client) signOut(ctx context.Context, code, msg string) error {
	discarded := 0
	err := c.tx(context.WithoutCancel(ctx), func(tx *sql.Tx) error {
		if code == syncproto.CodeDeviceRevoked {
			if err := tx.QueryRow(`SELECT count(*) FROM outbox`).Scan(&discarded); err != nil {
				return err
			}
			if err := c.wipeUserData(tx); err != nil {
				return err
			}
		}
		return delMeta(tx, metaAccessToken, metaRefreshToken)
	})
	if err != nil {
		return err
	}
	c.log.Warn("signed out by the server", "code", code, "discarded", discarded)
	return &SignedOutError{Code: code, Message: msg, Discarded: discarded}
}
