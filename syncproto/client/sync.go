package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// SyncOptions tune one Sync.
type SyncOptions struct {
	// Digest sends the digest of what the device holds once caught up,
	// whatever DigestEvery says.
	Digest bool
}

// SyncReport says what one Sync did.
type SyncReport struct {
	Pushed     int // mutations whose result was stored
	Accepted   int
	Merged     int
	Rejected   int
	Conflicts  int // field conflicts reported
	Unanswered int // mutations the server sent no result for; they stay queued

	Pulled     int // changes applied
	Pages      int
	Removed    int  // households that left the device's scope
	Resynced   bool // the records were wiped and pulled again from scratch
	DigestSent bool // a caught-up pull carried the digest, so the server compared it
	Diverged   bool // the server found the digest different

	Rejections  []RejectionInfo // refused in this sync
	ClockOffset time.Duration   // server clock minus device clock
	ServerTime  time.Time
	Pending     int // left in the outbox
}

// Sync pushes the outbox, then pulls until caught up. It is safe to call at
// any time and to interrupt at any point: a later Sync carries on from the
// last stored checkpoint.
func (c *Client) Sync(ctx context.Context) (SyncReport, error) {
	return c.SyncWith(ctx, SyncOptions{})
}

// SyncWith is Sync with options.
func (c *Client) SyncWith(ctx context.Context, so SyncOptions) (SyncReport, error) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	var rep SyncReport
	if err := c.push(ctx, &rep); err != nil {
		rep.Pending, _ = c.PendingCount(context.WithoutCancel(ctx))
		return rep, fmt.Errorf("push: %w", err)
	}
	if err := c.pull(ctx, &rep, so); err != nil {
		rep.Pending, _ = c.PendingCount(context.WithoutCancel(ctx))
		return rep, fmt.Errorf("pull: %w", err)
	}
	var err error
	rep.Pending, err = c.PendingCount(ctx)
	return rep, err
}

// --- push ----------------------------------------------------------------------

func (c *Client) loadBatch(ctx context.Context, limit int) ([]pendingOp, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT seq, mutation_id, entity, entity_id, op, base_version, device_time, fields, state
		FROM outbox ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var ops []pendingOp
	for rows.Next() {
		var p pendingOp
		if err := rows.Scan(&p.Seq, &p.MutationID, &p.Entity, &p.EntityID, &p.Op, &p.BaseVersion, &p.DeviceTime, &p.Fields, &p.State); err != nil {
			return nil, err
		}
		ops = append(ops, p)
	}
	return ops, rows.Err()
}

func (c *Client) push(ctx context.Context, rep *SyncReport) error {
	for {
		batch, err := c.loadBatch(ctx, c.opts.PushBatch)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		answered, err := c.pushBatch(ctx, batch, rep, &probe{})
		if err != nil {
			return err
		}
		if answered < len(batch) {
			// The server kept quiet about some: leave them for the next sync
			// rather than loop.
			rep.Unanswered += len(batch) - answered
			c.log.Warn("push: server sent no result for some mutations", "count", len(batch)-answered)
			return nil
		}
	}
}

func (p pendingOp) mutation() (syncproto.Mutation, error) {
	m := syncproto.Mutation{
		MutationID: p.MutationID, Seq: p.Seq, Entity: p.Entity, Op: p.Op, EntityID: p.EntityID, BaseVersion: p.BaseVersion,
	}
	t, err := time.Parse(time.RFC3339Nano, p.DeviceTime)
	if err != nil {
		return m, fmt.Errorf("outbox %d: device time: %w", p.Seq, err)
	}
	m.DeviceTime = t
	if err := json.Unmarshal([]byte(p.Fields), &m.Fields); err != nil {
		return m, fmt.Errorf("outbox %d: fields: %w", p.Seq, err)
	}
	return m, nil
}

// pushBatch sends a batch and stores its results, returning how many got one.
// A batch the server refuses as a whole is split until the bad mutation is
// alone, and that one is rejected locally (see the package documentation).
func (c *Client) pushBatch(ctx context.Context, batch []pendingOp, rep *SyncReport, pr *probe) (int, error) {
	muts := make([]syncproto.Mutation, len(batch))
	for i, p := range batch {
		m, err := p.mutation()
		if err != nil {
			return 0, err
		}
		muts[i] = m
	}
	if err := c.markSent(ctx, batch); err != nil {
		return 0, err
	}
	pending, err := c.PendingCount(ctx)
	if err != nil {
		return 0, err
	}
	req := syncproto.PushRequest{DeviceTime: c.opts.Clock(), PendingCount: pending, AppVersion: c.opts.AppVersion, Mutations: muts}
	var resp syncproto.PushResponse
	err = c.call(ctx, "/api/v1/sync/push", req, &resp, callOpts{auth: true, retry429: true})
	var apiErr *APIError
	if errors.As(err, &apiErr) && refusedWhole(apiErr) {
		if len(batch) > 1 {
			half := len(batch) / 2
			n1, err := c.pushBatch(ctx, batch[:half], rep, pr)
			if err != nil || n1 < half {
				return n1, err
			}
			n2, err := c.pushBatch(ctx, batch[half:], rep, pr)
			return n1 + n2, err
		}
		// One mutation refused as a request. Make sure it is the mutation
		// and not the request: an empty push must go through.
		if !pr.done {
			pr.emptyOK = c.call(ctx, "/api/v1/sync/push", syncproto.PushRequest{
				DeviceTime: c.opts.Clock(), PendingCount: pending, AppVersion: c.opts.AppVersion, Mutations: []syncproto.Mutation{},
			}, &syncproto.PushResponse{}, callOpts{auth: true, retry429: true}) == nil
			pr.done = true
		}
		if !pr.emptyOK {
			return 0, err
		}
		return 1, c.rejectLocally(ctx, batch[0], apiErr, rep)
	}
	if err != nil {
		return 0, err
	}
	c.recordClock(ctx, resp.ServerTime, resp.ClockOffsetMS, rep)
	return c.storeResults(ctx, batch, resp.Results, rep)
}

// probe remembers, for one push, whether an empty push goes through.
type probe struct{ done, emptyOK bool }

func refusedWhole(e *APIError) bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return e.Code == syncproto.CodeInvalidRequest || e.Code == syncproto.CodeBodyTooLarge || e.Code == syncproto.CodeTooManyMutations
	}
	return false
}

func (c *Client) markSent(ctx context.Context, batch []pendingOp) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		for _, p := range batch {
			if _, err := tx.Exec(`UPDATE outbox SET state = 'sent', attempts = attempts + 1 WHERE seq = ?`, p.Seq); err != nil {
				return fmt.Errorf("mark sent: %w", err)
			}
		}
		return nil
	})
}

// rejectLocally moves a mutation the server cannot even read out of the
// outbox into the rejections table, keeping its fields.
func (c *Client) rejectLocally(ctx context.Context, p pendingOp, apiErr *APIError, rep *SyncReport) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		userID, err := getMeta(tx, metaUserID)
		if err != nil {
			return err
		}
		rej := RejectionInfo{
			MutationID: p.MutationID, Entity: p.Entity, EntityID: p.EntityID, Code: syncproto.RejectInvalidMutation,
			Message: apiErr.Message, Source: "local", CreatedAt: time.Now().UTC(),
		}
		if f, ok := apiErr.Details["field"].(string); ok {
			rej.Field = f
		}
		json.Unmarshal([]byte(p.Fields), &rej.Fields)
		if err := insertRejection(tx, rej, p.Fields, nil); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM outbox WHERE seq = ?`, p.Seq); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		r, _, err := loadRecord(tx, p.Entity, p.EntityID)
		if err != nil {
			return err
		}
		rep.Pushed++
		rep.Rejected++
		rep.Rejections = append(rep.Rejections, rej)
		return c.rebase(tx, p.Entity, p.EntityID, r.Base, r.Version, userID)
	})
}

func insertRejection(tx *sql.Tx, r RejectionInfo, fields string, current []byte) error {
	var f, cur any
	if fields != "" {
		f = fields
	}
	if len(current) > 0 && string(current) != "null" {
		cur = string(current)
	}
	_, err := tx.Exec(`INSERT INTO rejections (mutation_id, rejection_id, entity, entity_id, code, field, message, fields, current, source, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (mutation_id) DO UPDATE SET
			rejection_id = CASE WHEN excluded.rejection_id <> '' THEN excluded.rejection_id ELSE rejections.rejection_id END,
			fields = COALESCE(rejections.fields, excluded.fields),
			current = COALESCE(excluded.current, rejections.current)`,
		r.MutationID, r.RejectionID, r.Entity, r.EntityID, r.Code, r.Field, r.Message, f, cur, r.Source, timeText(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("store rejection: %w", err)
	}
	return nil
}

// storeResults applies the server's verdicts in one local transaction; only
// then do the mutations leave the outbox.
func (c *Client) storeResults(ctx context.Context, batch []pendingOp, results []syncproto.MutationResult, rep *SyncReport) (int, error) {
	byID := make(map[string]pendingOp, len(batch))
	for _, p := range batch {
		byID[p.MutationID] = p
	}
	var newRejections []RejectionInfo
	var counts SyncReport
	answered := 0
	err := c.tx(ctx, func(tx *sql.Tx) error {
		newRejections, counts, answered = nil, SyncReport{}, 0
		userID, err := getMeta(tx, metaUserID)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		for _, res := range results {
			p, ok := byID[res.MutationID]
			if !ok {
				continue
			}
			delete(byID, res.MutationID)
			del, err := tx.Exec(`DELETE FROM outbox WHERE seq = ?`, p.Seq)
			if err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			if n, _ := del.RowsAffected(); n == 0 {
				continue // already stored, e.g. its verdict arrived on pull
			}
			answered++
			rec, _, err := loadRecord(tx, p.Entity, p.EntityID)
			if err != nil {
				return err
			}
			base, version := rec.Base, rec.Version
			cur, curVersion := currentOf(res)
			switch res.Status {
			case syncproto.StatusAccepted, syncproto.StatusMerged:
				if res.Status == syncproto.StatusAccepted {
					counts.Accepted++
				} else {
					counts.Merged++
				}
				switch {
				case p.Op == syncproto.OpDelete:
					base, version = nil, 0
				case cur != nil && curVersion >= version:
					base, version = cur, curVersion
				case cur == nil:
					// No record came back: assume ours was taken as sent until
					// the next pull says otherwise.
					o := defaults(p.Entity, p.EntityID, userID)
					if base != nil {
						o, _ = parseObject([]byte(*base))
					}
					fields, _ := parseObject([]byte(p.Fields))
					for k, v := range fields {
						o[k] = v
					}
					s := o.marshal()
					base, version = &s, max(res.Version, version)
				}
			case syncproto.StatusRejected:
				counts.Rejected++
				rej := RejectionInfo{
					MutationID: p.MutationID, Entity: p.Entity, EntityID: p.EntityID, Source: "push", CreatedAt: now,
					Code: syncproto.RejectInvalidMutation,
				}
				if res.Rejection != nil {
					rej.Code, rej.Field, rej.Message = res.Rejection.Code, res.Rejection.Field, res.Rejection.Message
				}
				json.Unmarshal([]byte(p.Fields), &rej.Fields)
				rej.Current = res.Current
				if err := insertRejection(tx, rej, p.Fields, res.Current); err != nil {
					return err
				}
				newRejections = append(newRejections, rej)
				if cur != nil && curVersion >= version {
					base, version = cur, curVersion
				}
			default:
				return fmt.Errorf("push: unknown result status %q", res.Status)
			}
			for _, fc := range res.Conflicts {
				counts.Conflicts++
				_, err := tx.Exec(`INSERT INTO conflicts (mutation_id, entity, entity_id, field, rule, device_value, server_value, winner, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (mutation_id, field) DO NOTHING`,
					p.MutationID, p.Entity, p.EntityID, fc.Field, fc.Rule, rawOrNil(fc.DeviceValue), rawOrNil(fc.ServerValue), fc.Winner, timeText(now))
				if err != nil {
					return fmt.Errorf("store conflict: %w", err)
				}
			}
			if err := c.rebase(tx, p.Entity, p.EntityID, base, version, userID); err != nil {
				return err
			}
		}
		// A batch may repeat; mark what is still unanswered as pending again.
		for _, p := range byID {
			if _, err := tx.Exec(`UPDATE outbox SET state = 'pending' WHERE seq = ?`, p.Seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	rep.Pushed += answered
	rep.Accepted += counts.Accepted
	rep.Merged += counts.Merged
	rep.Rejected += counts.Rejected
	rep.Conflicts += counts.Conflicts
	rep.Rejections = append(rep.Rejections, newRejections...)
	return answered, nil
}

// currentOf returns the server's record from a result, and its version.
func currentOf(res syncproto.MutationResult) (*string, int64) {
	if len(res.Current) == 0 || string(res.Current) == "null" {
		return nil, 0
	}
	o, err := parseObject(res.Current)
	if err != nil {
		return nil, 0
	}
	v := res.Version
	if ov := o.int("version"); ov > 0 {
		v = ov
	}
	s := string(res.Current)
	return &s, v
}

func rawOrNil(r json.RawMessage) any {
	if len(r) == 0 {
		return nil
	}
	return string(r)
}

// --- pull ----------------------------------------------------------------------

func (c *Client) pull(ctx context.Context, rep *SyncReport, so SyncOptions) error {
	cursor, err := c.meta(ctx, metaCursor)
	if err != nil {
		return err
	}
	since, _ := c.meta(ctx, metaSyncsNoDigest)
	n, _ := strconv.Atoi(since)
	digestDue := so.Digest || (c.opts.DigestEvery > 0 && n+1 >= c.opts.DigestEvery)
	resyncs, digestTries := 0, 0
	for {
		pending, err := c.PendingCount(ctx)
		if err != nil {
			return err
		}
		req := syncproto.PullRequest{
			Cursor: cursor, Limit: c.opts.PageLimit, DeviceTime: c.opts.Clock(),
			PendingCount: pending, AppVersion: c.opts.AppVersion,
		}
		// The digest describes the device as of its cursor; the server
		// compares it only when nothing is left after the cursor, so it rides
		// on every pull while due and counts once a pull came back empty.
		if digestDue && cursor != "" {
			if req.Digest, err = c.Digest(ctx); err != nil {
				return err
			}
		}
		var resp syncproto.PullResponse
		err = c.call(ctx, "/api/v1/sync/pull", req, &resp, callOpts{auth: true, retry429: true})
		var apiErr *APIError
		resync := resp.ResyncRequired
		if errors.As(err, &apiErr) && apiErr.Code == syncproto.CodeInvalidCursor {
			resync, err = true, nil
		}
		if err != nil {
			return err
		}
		c.recordClock(ctx, resp.ServerTime, resp.ClockOffsetMS, rep)
		if resync {
			if req.Digest != "" {
				rep.Diverged = true
			}
			resyncs++
			if resyncs > 3 {
				return errors.New("the server asked for a resync again and again")
			}
			c.log.Warn("resync from scratch", "after_digest", req.Digest != "")
			if err := c.tx(ctx, func(tx *sql.Tx) error {
				userID, err := getMeta(tx, metaUserID)
				if err != nil {
					return err
				}
				return c.wipeRecords(tx, userID)
			}); err != nil {
				return err
			}
			rep.Resynced = true
			cursor, digestDue = "", false
			continue
		}
		if err := c.applyPage(ctx, resp, rep); err != nil {
			return err
		}
		if resp.Cursor != "" {
			cursor = resp.Cursor
		}
		rep.Pages++
		if req.Digest != "" && len(resp.Changes) == 0 && !resp.HasMore {
			rep.DigestSent, digestDue = true, false
		}
		if resp.HasMore {
			continue
		}
		// Caught up. One more pull carries the digest, unless the branch is
		// so busy that every pull brings news: then it waits for next time.
		if digestDue && digestTries < 3 {
			digestTries++
			continue
		}
		break
	}
	return c.tx(ctx, func(tx *sql.Tx) error {
		if !rep.ServerTime.IsZero() {
			if err := setMeta(tx, metaLastSync, timeText(rep.ServerTime)); err != nil {
				return err
			}
		}
		if rep.DigestSent {
			n = 0
		} else {
			n++
		}
		return setMeta(tx, metaSyncsNoDigest, strconv.Itoa(n))
	})
}

func (c *Client) recordClock(ctx context.Context, serverTime time.Time, offsetMS int64, rep *SyncReport) {
	if serverTime.IsZero() {
		return
	}
	rep.ServerTime = serverTime
	rep.ClockOffset = time.Duration(offsetMS) * time.Millisecond
}

// applyPage stores one page and its cursor in one local transaction.
func (c *Client) applyPage(ctx context.Context, resp syncproto.PullResponse, rep *SyncReport) error {
	var removed int
	err := c.tx(ctx, func(tx *sql.Tx) error {
		removed = 0
		userID, err := getMeta(tx, metaUserID)
		if err != nil {
			return err
		}
		for _, ch := range resp.Changes {
			switch {
			case ch.Entity == syncproto.EntityRejection:
				if err := c.applyRejection(tx, ch, userID); err != nil {
					return err
				}
			case ch.Op == syncproto.ChangeUpsert:
				if len(ch.Data) == 0 || string(ch.Data) == "null" {
					return fmt.Errorf("pull: upsert of %s %s carries no record", ch.Entity, ch.ID)
				}
				rec, found, err := loadRecord(tx, ch.Entity, ch.ID)
				if err != nil {
					return err
				}
				if found && rec.Base != nil && rec.Version > ch.Version {
					continue // we already hold a newer state, e.g. from a push result
				}
				s := string(ch.Data)
				if err := c.rebase(tx, ch.Entity, ch.ID, &s, ch.Version, userID); err != nil {
					return err
				}
			case ch.Op == syncproto.ChangeDelete:
				if err := c.rebase(tx, ch.Entity, ch.ID, nil, 0, userID); err != nil {
					return err
				}
			case ch.Op == syncproto.ChangeRemove:
				removed++
				hh := ch.ID
				if ch.Entity != syncproto.EntityHousehold {
					hh = ch.HouseholdID
					if _, err := tx.Exec(`DELETE FROM records WHERE entity = ? AND id = ?`, ch.Entity, ch.ID); err != nil {
						return fmt.Errorf("remove record: %w", err)
					}
				}
				if hh != "" {
					if _, err := tx.Exec(`DELETE FROM records WHERE household_id = ? OR (entity = ? AND id = ?)`, hh, syncproto.EntityHousehold, hh); err != nil {
						return fmt.Errorf("remove household: %w", err)
					}
				}
			default:
				return fmt.Errorf("pull: unknown change op %q", ch.Op)
			}
		}
		if resp.Cursor != "" {
			if err := setMeta(tx, metaCursor, resp.Cursor); err != nil {
				return err
			}
		}
		return setMeta(tx, metaClockOffset, strconv.FormatInt(resp.ClockOffsetMS, 10))
	})
	if err != nil {
		return err
	}
	rep.Pulled += len(resp.Changes)
	rep.Removed += removed
	return nil
}

// applyRejection stores a verdict re-delivered on pull. When the mutation is
// still in the outbox (its push response was lost), it leaves the outbox now.
func (c *Client) applyRejection(tx *sql.Tx, ch syncproto.Change, userID string) error {
	if ch.Op != syncproto.ChangeUpsert {
		_, err := tx.Exec(`DELETE FROM rejections WHERE rejection_id = ?`, ch.ID)
		return err
	}
	var rr syncproto.RejectionRecord
	if err := json.Unmarshal(ch.Data, &rr); err != nil {
		return fmt.Errorf("pull: rejection %s: %w", ch.ID, err)
	}
	if rr.MutationID == "" {
		return fmt.Errorf("pull: rejection %s names no mutation", ch.ID)
	}
	var fields sql.NullString
	var seq int64
	err := tx.QueryRow(`SELECT seq, fields FROM outbox WHERE mutation_id = ?`, rr.MutationID).Scan(&seq, &fields)
	inOutbox := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	created := rr.CreatedAt
	if created.IsZero() {
		created = time.Now().UTC()
	}
	rej := RejectionInfo{
		MutationID: rr.MutationID, RejectionID: firstNonEmpty(rr.ID, ch.ID), Entity: rr.Entity, EntityID: rr.EntityID,
		Code: rr.Rejection.Code, Field: rr.Rejection.Field, Message: rr.Rejection.Message, Source: "pull", CreatedAt: created,
	}
	if err := insertRejection(tx, rej, fields.String, nil); err != nil {
		return err
	}
	if !inOutbox {
		return nil
	}
	if _, err := tx.Exec(`DELETE FROM outbox WHERE seq = ?`, seq); err != nil {
		return err
	}
	r, _, err := loadRecord(tx, rr.Entity, rr.EntityID)
	if err != nil {
		return err
	}
	return c.rebase(tx, rr.Entity, rr.EntityID, r.Base, r.Version, userID)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
