package syncsvc

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Pull returns the next page of changes for the actor's device.
//
// An empty cursor starts a full sync. The branch's last committed change
// number S0 is read first; then pages walk the officer's whole scope in
// (entity, id) order; then the log phase follows the change log from S0.
// Anything that changes during the walk has a change number above S0 and is
// delivered again by the log phase, so the walk needs no long transaction.
//
// Log phase. Change numbers are allocated one per server transaction, under
// a row lock held to commit (store.Tx.RecordChange), so they become visible
// in order: once a reader sees number n, every number below n is visible
// too. A cursor that has delivered up to n can therefore never miss a
// late-committing transaction. Each page is read in one snapshot; record
// states are read from the entity tables in the same snapshot, and a page
// ends on a transaction boundary: never half of one change number.
//
// Digest. When the request carries a digest and the device is caught up
// (nothing visible after its cursor), the digest of the officer's scope is
// compared; a mismatch answers resync_required.
func (s *Service) Pull(ctx context.Context, a store.Actor, req syncproto.PullRequest) (syncproto.PullResponse, error) {
	if err := checkSyncActor(a); err != nil {
		return syncproto.PullResponse{}, err
	}
	limit := req.Limit
	if limit == 0 {
		limit = syncproto.DefaultPullLimit
	}
	if limit < 0 || limit > syncproto.MaxPullLimit {
		return syncproto.PullResponse{}, apperr.Invalid("limit", "limit 超出范围", "limit out of range").With("max", syncproto.MaxPullLimit)
	}
	now := store.Now()
	var offsetMS int64
	if !req.DeviceTime.IsZero() {
		offsetMS = now.Sub(req.DeviceTime).Milliseconds()
	}
	resp := syncproto.PullResponse{ServerTime: now, ClockOffsetMS: offsetMS}
	err := s.db.ReadSnapshot(ctx, func(tx *store.Tx) error {
		if err := tx.CustomPlans(); err != nil {
			return err
		}
		head, err := tx.BranchHead(a.BranchID)
		if err != nil {
			return err
		}
		cur := cursor{P: phaseSnapshot, B: a.BranchID, U: a.UserID, S: head}
		if req.Cursor != "" {
			if cur, err = s.decodeCursor(req.Cursor, a, head); err != nil {
				return err
			}
		}
		p := &puller{s: s, tx: tx, a: a}
		if cur.P == phaseSnapshot {
			return p.snapshotPage(&resp, cur, limit, head)
		}
		return p.logPage(&resp, cur, limit, head, req.Digest)
	})
	if err != nil {
		if _, ok := apperr.As(err); ok {
			return syncproto.PullResponse{}, err
		}
		return syncproto.PullResponse{}, fmt.Errorf("pull: %w", err)
	}
	if resp.Changes == nil {
		resp.Changes = []syncproto.Change{}
	}
	if err := s.db.TouchDevice(ctx, a, store.DeviceSync{At: now, ClockOffsetMS: offsetMS, PendingChanges: req.PendingCount, AppVersion: req.AppVersion}, pullTouchEvery); err != nil {
		s.log.WarnContext(ctx, "pull: device bookkeeping failed", "request_id", a.RequestID, "err", err)
	}
	return resp, nil
}

// pullTouchEvery is how often a pulling device's row is rewritten with its
// last sync time and clock offset (pushes always rewrite it).
const pullTouchEvery = 5 * time.Second

type puller struct {
	s     *Service
	tx    *store.Tx
	a     store.Actor
	scope map[string]bool
}

// snapshotOrder is the walk over a scope: the households, then everything
// under them household by household (stepUnder), then reference data and
// tasks.
var snapshotOrder = []string{syncproto.EntityHousehold, stepUnder, syncproto.EntityLoanProduct, syncproto.EntityTask}

// stepUnder delivers the visits, plans, needs and loan applications of the
// scope's households, in household id order, never splitting a household
// across pages. Walking by household keeps every page's queries on the
// households it delivers, whatever the size of the branch.
const stepUnder = "under"

func (p *puller) snapshotPage(resp *syncproto.PullResponse, cur cursor, limit int, head int64) error {
	for cur.E < len(snapshotOrder) && len(resp.Changes) < limit {
		n := limit - len(resp.Changes)
		page, last, done, err := p.walk(snapshotOrder[cur.E], cur.I, n, len(resp.Changes) == 0)
		if err != nil {
			return err
		}
		resp.Changes = append(resp.Changes, page...)
		if done {
			cur.E, cur.I = cur.E+1, ""
		} else {
			cur.I = last
			break
		}
	}
	if cur.E < len(snapshotOrder) {
		resp.Cursor, resp.HasMore = p.s.encodeCursor(cur), true
		return nil
	}
	// The walk is over: continue from S0 in the change log.
	resp.Cursor = p.s.encodeCursor(cursor{P: phaseLog, B: cur.B, U: cur.U, S: cur.S})
	resp.HasMore = head > cur.S
	return nil
}

// walk returns up to n records of one step after afterID, the last id
// delivered, and whether the step is finished. emptyPage allows a step that
// cannot split its unit (a household's records) to exceed n.
func (p *puller) walk(step, afterID string, n int, emptyPage bool) ([]syncproto.Change, string, bool, error) {
	var out []syncproto.Change
	last := afterID
	switch step {
	case syncproto.EntityHousehold:
		rows, err := p.tx.PageHouseholds(p.a, afterID, n)
		if err != nil {
			return nil, "", false, err
		}
		asg, err := p.assignments(rows)
		if err != nil {
			return nil, "", false, err
		}
		for i := range rows {
			out = append(out, p.householdChange(&rows[i], asg))
			last = rows[i].ID
		}
	case stepUnder:
		return p.walkUnder(afterID, n, emptyPage)
	case syncproto.EntityLoanProduct:
		rows, err := p.tx.PageLoanProducts(p.a, afterID, n)
		if err != nil {
			return nil, "", false, err
		}
		for i := range rows {
			out = append(out, upsert(step, rows[i].ID, "", rows[i].Version, productWire(&rows[i])))
			last = rows[i].ID
		}
	case syncproto.EntityTask:
		rows, err := p.tx.PageTasks(p.a, afterID, n)
		if err != nil {
			return nil, "", false, err
		}
		for i := range rows {
			out = append(out, upsert(step, rows[i].ID, "", rows[i].Version, taskWire(&rows[i])))
			last = rows[i].ID
		}
	}
	return out, last, len(out) < n, nil
}

// walkUnder delivers the records under the scope's households after
// afterHousehold, whole households at a time, up to n records (more only
// when the page is empty and one household alone has more).
func (p *puller) walkUnder(afterHousehold string, n int, emptyPage bool) ([]syncproto.Change, string, bool, error) {
	ids, err := p.tx.ScopeHouseholdIDs(p.a)
	if err != nil {
		return nil, "", false, err
	}
	sort.Strings(ids)
	i := sort.SearchStrings(ids, afterHousehold)
	if i < len(ids) && ids[i] == afterHousehold {
		i++
	}
	var out []syncproto.Change
	last := afterHousehold
	for i < len(ids) {
		// About ten records hang under a household; read a chunk that
		// probably fills the page.
		chunk := ids[i:min(i+max(8, min(200, (n-len(out))/8+1)), len(ids))]
		b, err := p.tx.RecordsUnder(p.a, chunk)
		if err != nil {
			return nil, "", false, err
		}
		under := map[string][]syncproto.Change{}
		for k := range b.Visits {
			v := &b.Visits[k]
			under[v.HouseholdID] = append(under[v.HouseholdID], upsert(syncproto.EntityVisit, v.ID, v.HouseholdID, v.Version, visitWire(v)))
		}
		for k := range b.Plans {
			v := &b.Plans[k]
			under[v.HouseholdID] = append(under[v.HouseholdID], upsert(syncproto.EntityVisitPlan, v.ID, v.HouseholdID, v.Version, planWire(v)))
		}
		for k := range b.Needs {
			v := &b.Needs[k]
			under[v.HouseholdID] = append(under[v.HouseholdID], upsert(syncproto.EntityNeed, v.ID, v.HouseholdID, v.Version, needWire(v)))
		}
		for k := range b.Loans {
			v := &b.Loans[k]
			under[v.HouseholdID] = append(under[v.HouseholdID], upsert(syncproto.EntityLoan, v.ID, v.HouseholdID, v.Version, loanWire(v)))
		}
		for _, h := range chunk {
			cs := under[h]
			if len(out)+len(cs) > n && (len(out) > 0 || !emptyPage) {
				return out, last, false, nil
			}
			out = append(out, cs...)
			last = h
			i++
		}
	}
	return out, last, true, nil
}

func upsert(entity, id, householdID string, version int64, record any) syncproto.Change {
	return syncproto.Change{Entity: entity, ID: id, Op: syncproto.ChangeUpsert, HouseholdID: householdID, Version: version, Data: mustJSON(record)}
}

func tombstone(entity, id, householdID string, version int64) syncproto.Change {
	return syncproto.Change{Entity: entity, ID: id, Op: syncproto.ChangeDelete, HouseholdID: householdID, Version: version}
}

func (p *puller) assignments(hs []store.Household) (map[string]*store.AssignmentTerms, error) {
	ids := make([]string, len(hs))
	for i, h := range hs {
		ids[i] = h.ID
	}
	rows, err := p.tx.CurrentAssignments(p.a.BranchID, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*store.AssignmentTerms, len(rows))
	for i := range rows {
		out[rows[i].HouseholdID] = &rows[i]
	}
	return out, nil
}

func (p *puller) householdChange(h *store.Household, asg map[string]*store.AssignmentTerms) syncproto.Change {
	return upsert(syncproto.EntityHousehold, h.ID, h.ID, h.Version, householdWire(h, p.s.phoneOf(h), asg[h.ID]))
}

func (p *puller) logPage(resp *syncproto.PullResponse, cur cursor, limit int, head int64, digest string) error {
	rows, err := p.tx.ChangesFor(p.a, cur.S, head, limit+1)
	if err != nil {
		return err
	}
	next := head
	if len(rows) > limit {
		last := rows[limit].Seq
		cut := 0
		for cut < len(rows) && rows[cut].Seq != last {
			cut++
		}
		if cut == 0 {
			// One transaction larger than a page is delivered whole.
			if rows, err = p.tx.ChangesAt(p.a, last); err != nil {
				return err
			}
			next = last
		} else {
			rows, next = rows[:cut], last-1
		}
		resp.HasMore = true
	}
	if len(rows) == 0 && digest != "" {
		ok, err := p.digestMatches(digest)
		if err != nil {
			return err
		}
		if !ok {
			resp.ResyncRequired, resp.Cursor = true, ""
			return nil
		}
	}
	if resp.Changes, err = p.materialize(rows); err != nil {
		return err
	}
	resp.Cursor = p.s.encodeCursor(cursor{P: phaseLog, B: cur.B, U: cur.U, S: next})
	return nil
}

func (p *puller) digestMatches(digest string) (bool, error) {
	vs, err := p.tx.ScopeVersions(p.a)
	if err != nil {
		return false, err
	}
	items := make([]syncproto.DigestItem, len(vs))
	for i, v := range vs {
		items[i] = syncproto.DigestItem{Entity: v.Entity, ID: v.ID, Version: v.Version}
	}
	return syncproto.Digest(items) == digest, nil
}

// materialize turns change-log rows into record states read now, in the
// page's snapshot. A record that appears several times is delivered once, at
// its last position; each delivery is the current state, so nothing older
// can overwrite something newer on the device.
func (p *puller) materialize(rows []store.ChangeRow) ([]syncproto.Change, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	ids := map[string][]string{}
	var added []string
	for _, r := range rows {
		switch r.Op {
		case store.OpScopeAdd:
			added = append(added, r.EntityID)
		case store.OpUpsert, store.OpDelete:
			ids[r.Entity] = append(ids[r.Entity], r.EntityID)
		}
	}
	scopeIDs, err := p.tx.ScopeHouseholdIDs(p.a)
	if err != nil {
		return nil, err
	}
	p.scope = make(map[string]bool, len(scopeIDs))
	for _, id := range scopeIDs {
		p.scope[id] = true
	}
	st, err := p.load(ids, added)
	if err != nil {
		return nil, err
	}
	var out []syncproto.Change
	for _, r := range rows {
		switch r.Op {
		case store.OpScopeRemove:
			out = append(out, syncproto.Change{Entity: syncproto.EntityHousehold, ID: r.EntityID, Op: syncproto.ChangeRemove, HouseholdID: r.EntityID})
		case store.OpScopeAdd:
			out = append(out, st.bundle(p, r.EntityID)...)
		default:
			if c, ok := st.change(p, r); ok {
				out = append(out, c)
			}
		}
	}
	return lastOccurrence(out), nil
}

func lastOccurrence(cs []syncproto.Change) []syncproto.Change {
	type key struct {
		remove     bool
		entity, id string
	}
	seen := make(map[key]bool, len(cs))
	keep := make([]bool, len(cs))
	for i := len(cs) - 1; i >= 0; i-- {
		k := key{cs[i].Op == syncproto.ChangeRemove, cs[i].Entity, cs[i].ID}
		if !seen[k] {
			seen[k], keep[i] = true, true
		}
	}
	out := make([]syncproto.Change, 0, len(cs))
	for i, c := range cs {
		if keep[i] {
			out = append(out, c)
		}
	}
	return out
}

// pageState holds the records one log page refers to.
type pageState struct {
	households map[string]*store.Household
	assign     map[string]*store.AssignmentTerms
	visits     map[string]*store.Visit
	plans      map[string]*store.VisitPlan
	needs      map[string]*store.FinancingNeed
	loans      map[string]*store.LoanApplication
	products   map[string]*store.LoanProduct
	tasks      map[string]*store.Task
	rejections map[string]*store.Conflict
	bundles    map[string][]syncproto.Change
}

func index[T any](rows []T, id func(*T) string) map[string]*T {
	m := make(map[string]*T, len(rows))
	for i := range rows {
		m[id(&rows[i])] = &rows[i]
	}
	return m
}

func (p *puller) load(ids map[string][]string, added []string) (*pageState, error) {
	st := &pageState{bundles: map[string][]syncproto.Change{}}
	hs, err := p.tx.HouseholdsInScope(p.a, uniq(ids[syncproto.EntityHousehold]), false)
	if err != nil {
		return nil, err
	}
	st.households = index(hs, func(h *store.Household) string { return h.ID })
	vs, err := p.tx.VisitsByID(p.a, uniq(ids[syncproto.EntityVisit]), false)
	if err != nil {
		return nil, err
	}
	st.visits = index(vs, func(v *store.Visit) string { return v.ID })
	ps, err := p.tx.VisitPlansByID(p.a, uniq(ids[syncproto.EntityVisitPlan]), false)
	if err != nil {
		return nil, err
	}
	st.plans = index(ps, func(v *store.VisitPlan) string { return v.ID })
	ns, err := p.tx.NeedsByID(p.a, uniq(ids[syncproto.EntityNeed]), false)
	if err != nil {
		return nil, err
	}
	st.needs = index(ns, func(v *store.FinancingNeed) string { return v.ID })
	ls, err := p.tx.LoansByID(p.a, uniq(ids[syncproto.EntityLoan]), false)
	if err != nil {
		return nil, err
	}
	st.loans = index(ls, func(v *store.LoanApplication) string { return v.ID })
	prs, err := p.tx.LoanProductsByID(p.a, uniq(ids[syncproto.EntityLoanProduct]))
	if err != nil {
		return nil, err
	}
	st.products = index(prs, func(v *store.LoanProduct) string { return v.ID })
	ts, err := p.tx.TasksByID(p.a, uniq(ids[syncproto.EntityTask]))
	if err != nil {
		return nil, err
	}
	st.tasks = index(ts, func(v *store.Task) string { return v.ID })
	rs, err := p.tx.RejectionsByID(p.a, uniq(ids[syncproto.EntityRejection]))
	if err != nil {
		return nil, err
	}
	st.rejections = index(rs, func(v *store.Conflict) string { return v.ID })

	b, err := p.tx.BundlesInScope(p.a, uniq(added))
	if err != nil {
		return nil, err
	}
	allHH := append(hs[:len(hs):len(hs)], b.Households...)
	if st.assign, err = p.assignments(allHH); err != nil {
		return nil, err
	}
	for i := range b.Households {
		h := &b.Households[i]
		st.bundles[h.ID] = append(st.bundles[h.ID], p.householdChange(h, st.assign))
	}
	for i := range b.Visits {
		v := &b.Visits[i]
		st.bundles[v.HouseholdID] = append(st.bundles[v.HouseholdID], upsert(syncproto.EntityVisit, v.ID, v.HouseholdID, v.Version, visitWire(v)))
	}
	for i := range b.Plans {
		v := &b.Plans[i]
		st.bundles[v.HouseholdID] = append(st.bundles[v.HouseholdID], upsert(syncproto.EntityVisitPlan, v.ID, v.HouseholdID, v.Version, planWire(v)))
	}
	for i := range b.Needs {
		v := &b.Needs[i]
		st.bundles[v.HouseholdID] = append(st.bundles[v.HouseholdID], upsert(syncproto.EntityNeed, v.ID, v.HouseholdID, v.Version, needWire(v)))
	}
	for i := range b.Loans {
		v := &b.Loans[i]
		st.bundles[v.HouseholdID] = append(st.bundles[v.HouseholdID], upsert(syncproto.EntityLoan, v.ID, v.HouseholdID, v.Version, loanWire(v)))
	}
	return st, nil
}

func (st *pageState) bundle(p *puller, householdID string) []syncproto.Change {
	if !p.scope[householdID] {
		return nil // it left the scope again; a later scope_remove says so
	}
	return st.bundles[householdID]
}

// change is the state of one upsert/delete row, or false when the actor
// may not see it.
func (st *pageState) change(p *puller, r store.ChangeRow) (syncproto.Change, bool) {
	hid := deref(r.HouseholdID)
	// underScope is the rule for records that hang under a household: they
	// are delivered only while that household is in the actor's scope.
	underScope := func(rowHousehold string, deleted *time.Time, version int64, data func() any) (syncproto.Change, bool) {
		if !p.scope[rowHousehold] {
			return syncproto.Change{}, false
		}
		if deleted != nil {
			return tombstone(r.Entity, r.EntityID, rowHousehold, version), true
		}
		return upsert(r.Entity, r.EntityID, rowHousehold, version, data()), true
	}
	switch r.Entity {
	case syncproto.EntityHousehold:
		if h := st.households[r.EntityID]; h != nil {
			return p.householdChange(h, st.assign), true
		}
	case syncproto.EntityVisit:
		if v := st.visits[r.EntityID]; v != nil {
			return underScope(v.HouseholdID, v.DeletedAt, v.Version, func() any { return visitWire(v) })
		}
	case syncproto.EntityVisitPlan:
		if v := st.plans[r.EntityID]; v != nil {
			return underScope(v.HouseholdID, v.DeletedAt, v.Version, func() any { return planWire(v) })
		}
	case syncproto.EntityNeed:
		if v := st.needs[r.EntityID]; v != nil {
			return underScope(v.HouseholdID, v.DeletedAt, v.Version, func() any { return needWire(v) })
		}
	case syncproto.EntityLoan:
		if v := st.loans[r.EntityID]; v != nil {
			return underScope(v.HouseholdID, v.DeletedAt, v.Version, func() any { return loanWire(v) })
		}
	case syncproto.EntityLoanProduct:
		if v := st.products[r.EntityID]; v != nil && v.Active {
			return upsert(r.Entity, v.ID, "", v.Version, productWire(v)), true
		}
		return tombstone(r.Entity, r.EntityID, "", 0), true
	case syncproto.EntityTask:
		if v := st.tasks[r.EntityID]; v != nil && v.Status == store.TaskOpen {
			return upsert(r.Entity, v.ID, "", v.Version, taskWire(v)), true
		}
		// Closed, or no longer addressed to this officer: drop it.
		return tombstone(r.Entity, r.EntityID, "", 0), true
	case syncproto.EntityRejection:
		if v := st.rejections[r.EntityID]; v != nil {
			return upsert(r.Entity, v.ID, "", 0, rejectionWire(v)), true
		}
		return syncproto.Change{}, false
	default:
		return syncproto.Change{}, false
	}
	// A record row that is gone entirely: a tombstone, if its household is
	// one the actor may hear about.
	if r.Entity != syncproto.EntityHousehold && p.scope[hid] {
		return tombstone(r.Entity, r.EntityID, hid, 0), true
	}
	return syncproto.Change{}, false
}
