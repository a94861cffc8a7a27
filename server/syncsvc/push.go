package syncsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// ClockSkewAllowance is how far in the future a corrected time may lie
// before it is not trusted.
const ClockSkewAllowance = 5 * time.Minute

const maxPushAttempts = 4

// Push applies a batch of mutations from the actor's device, exactly once.
//
// The whole batch is one transaction: the device row is locked (pushes from
// one device queue behind each other), the mutation log is read in bulk, and
// the mutations not logged yet are judged in seq order against rows loaded
// in bulk, then written with multi-row statements together with their log
// rows. A retried push finds every mutation logged, returns the stored
// results and writes nothing but the device's last-sync bookkeeping.
func (s *Service) Push(ctx context.Context, a store.Actor, req syncproto.PushRequest) (syncproto.PushResponse, error) {
	if err := checkSyncActor(a); err != nil {
		return syncproto.PushResponse{}, err
	}
	if len(req.Mutations) > syncproto.MaxMutationsPerPush {
		return syncproto.PushResponse{}, apperr.New(syncproto.CodeTooManyMutations, "一次推送的修改过多", "too many mutations in one push").
			With("max", syncproto.MaxMutationsPerPush)
	}
	if req.DeviceTime.IsZero() {
		return syncproto.PushResponse{}, apperr.Invalid("device_time", "缺少设备时间 device_time", "device_time is required")
	}
	now := store.Now()
	// The offset is kept to the microsecond for correcting times; devices are
	// told it in milliseconds. Either way it carries the request's transit
	// time, so edits made a few milliseconds apart on two devices cannot be
	// ordered reliably by their corrected times.
	offset := now.Sub(req.DeviceTime)
	offsetMS := offset.Milliseconds()
	var results []syncproto.MutationResult
	var err error
	for attempt := 1; ; attempt++ {
		results, err = s.pushOnce(ctx, a, req, now, offset, attempt == 1)
		if err == nil || !errors.Is(err, store.ErrWriteRace) || attempt == maxPushAttempts || ctx.Err() != nil {
			break
		}
	}
	if errors.Is(err, store.ErrDeviceUnknown) {
		return syncproto.PushResponse{}, errDeviceGone
	}
	if err != nil {
		return syncproto.PushResponse{}, fmt.Errorf("push: %w", err)
	}
	return syncproto.PushResponse{ServerTime: now, ClockOffsetMS: offsetMS, Results: results}, nil
}

// pushOnce runs one attempt. On the first attempt the ids of creates are
// taken to be new without looking them up: they are client-generated UUIDs,
// and one that exists after all fails the insert with a unique violation,
// which reruns the batch with every id looked up (and the create rejected
// already_exists). Likewise mutations above the device's highest logged seq
// are taken to be unlogged (see run).
func (s *Service) pushOnce(ctx context.Context, a store.Actor, req syncproto.PushRequest, now time.Time, offset time.Duration, trustCreates bool) ([]syncproto.MutationResult, error) {
	var out []syncproto.MutationResult
	err := s.db.Transact(ctx, func(tx *store.Tx) error {
		b := &batch{s: s, tx: tx, a: a, now: now, offset: offset, trustCreates: trustCreates}
		res, err := b.run(req)
		out = res
		return err
	})
	if store.IsUniqueViolation(err) {
		// A concurrent insert of the same record id slipped between our read
		// and write; judging again sees it.
		err = fmt.Errorf("%w: %w", store.ErrWriteRace, err)
	}
	return out, err
}

// outcome is the verdict on one mutation of the request.
type outcome struct {
	m     *syncproto.Mutation
	c     *checked
	alias *outcome // the same mutation id earlier in this request

	replay  *syncproto.MutationResult // logged before: returned as stored
	dupSeq  bool                      // reuses a logged seq: not logged itself
	applied bool                      // judged in this batch (not replay or alias)

	status    string
	rej       *syncproto.Rejection
	rule      string
	conflicts []fieldConflict

	entity, id  string // the record Current shows, if any
	householdID string
	current     bool // show Current
}

// batch is one push being judged.
type batch struct {
	s      *Service
	tx     *store.Tx
	a      store.Actor
	dev    store.Device
	now    time.Time
	offset time.Duration
	// trustCreates skips looking up the ids of creates (see pushOnce).
	trustCreates bool

	households  map[string]*rec[hhRow]
	assignStart map[string]time.Time
	dueOn       map[string]string
	visits      map[string]*rec[store.Visit]
	plans       map[string]*rec[store.VisitPlan]
	needs       map[string]*rec[store.FinancingNeed]
	loans       map[string]*rec[store.LoanApplication]
	products    map[string]store.LoanProduct
	failed      map[string]bool // entity:id whose create was rejected in this batch
	// movedFrom holds, for each stored visit this batch moves in time, its
	// visited_at before the batch: the visits that followed it there are
	// checked again (OnVisitsApplied).
	movedFrom map[string]time.Time

	touched []touch // records changed, in the order they were first changed
}

// rec is a record in the batch's working set.
type rec[T any] struct {
	row     T
	stored  bool // exists in the database (before this batch)
	version int64
	dirty   bool
	stamps  store.FieldTimes
}

// next is the version the record has once this batch commits.
func (r *rec[T]) next() int64 { return r.version + 1 }

type touch struct{ entity, id string }

func (b *batch) markDirty(entity, id string, dirty *bool) {
	if !*dirty {
		*dirty = true
		b.touched = append(b.touched, touch{entity, id})
	}
}

func (b *batch) run(req syncproto.PushRequest) ([]syncproto.MutationResult, error) {
	if err := b.tx.CustomPlans(); err != nil {
		return nil, err
	}
	dev, err := b.tx.SyncDevice(b.a)
	if err != nil {
		return nil, err
	}
	b.dev = dev
	ocs := make([]*outcome, len(req.Mutations))
	order := make([]int, len(req.Mutations))
	ids := make([]string, 0, len(req.Mutations))
	seqs := make([]int64, 0, len(req.Mutations))
	for i := range req.Mutations {
		ocs[i] = &outcome{m: &req.Mutations[i]}
		order[i] = i
		ids = append(ids, req.Mutations[i].MutationID)
		seqs = append(seqs, req.Mutations[i].Seq)
	}
	sort.SliceStable(order, func(x, y int) bool { return req.Mutations[order[x]].Seq < req.Mutations[order[y]].Seq })

	if b.trustCreates {
		// Only a mutation at or below the device's highest logged seq can be
		// a replay or reuse a seq; the rest of a fresh push is not looked up.
		// A mutation id resent under a new, higher seq fails the log's
		// primary key instead, and the batch runs again with everything
		// looked up (see pushOnce).
		last, err := b.tx.LastLoggedSeq(b.a.BranchID, b.dev.ID)
		if err != nil {
			return nil, err
		}
		ids, seqs = ids[:0], seqs[:0]
		for i := range req.Mutations {
			if m := &req.Mutations[i]; m.Seq <= last {
				ids, seqs = append(ids, m.MutationID), append(seqs, m.Seq)
			}
		}
	}
	logged, err := b.tx.LoggedMutations(b.a.BranchID, b.dev.ID, ids, seqs)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*store.DeviceMutation, len(logged))
	seqOwner := make(map[int64]string, len(logged)+len(req.Mutations))
	for i := range logged {
		byID[logged[i].MutationID] = &logged[i]
		seqOwner[logged[i].Seq] = logged[i].MutationID
	}
	first := make(map[string]*outcome, len(req.Mutations))
	var dupIDs []string
	var fresh []*outcome
	for _, i := range order {
		oc := ocs[i]
		m := oc.m
		if f, ok := first[m.MutationID]; ok {
			oc.alias = f
			continue
		}
		first[m.MutationID] = oc
		if dm, ok := byID[m.MutationID]; ok {
			r, err := replayResult(dm)
			if err != nil {
				return nil, err
			}
			oc.replay = r
			continue
		}
		if owner, ok := seqOwner[m.Seq]; ok && owner != m.MutationID {
			oc.dupSeq = true
			dupIDs = append(dupIDs, m.MutationID)
			continue
		}
		seqOwner[m.Seq] = m.MutationID
		oc.applied = true
		fresh = append(fresh, oc)
	}
	if err := b.judgeDuplicateSeqs(ocs, dupIDs); err != nil {
		return nil, err
	}
	if err := b.load(fresh); err != nil {
		return nil, err
	}
	for _, oc := range fresh {
		b.judge(oc)
	}
	return b.commit(req, ocs)
}

// judgeDuplicateSeqs answers mutations that reuse a seq. Their verdict lives
// in the conflict log only (the mutation log's seq is unique), so a replay
// finds it there and writes nothing again.
func (b *batch) judgeDuplicateSeqs(ocs []*outcome, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	prior, err := b.tx.LoggedRejections(b.a.BranchID, b.dev.ID, syncproto.RejectDuplicateSeq, ids)
	if err != nil {
		return err
	}
	seen := make(map[string]store.Conflict, len(prior))
	for _, c := range prior {
		seen[c.MutationID] = c
	}
	for _, oc := range ocs {
		if !oc.dupSeq {
			continue
		}
		rej := dupSeqRejection(oc.m.Seq)
		if c, ok := seen[oc.m.MutationID]; ok {
			rej = &syncproto.Rejection{Code: c.Code, Field: c.Field, Message: c.Message}
			oc.replay = &syncproto.MutationResult{MutationID: oc.m.MutationID, Seq: oc.m.Seq, Status: syncproto.StatusRejected, Rejection: rej}
			continue
		}
		oc.status, oc.rej, oc.rule = syncproto.StatusRejected, rej, RuleSequence
	}
	return nil
}

func dupSeqRejection(seq int64) *syncproto.Rejection {
	return rejectf(syncproto.RejectDuplicateSeq, "seq", "序号 %d 已被本设备的另一条修改使用", "seq %d was already used by another mutation of this device", seq)
}

// replayResult reads a logged result back. JSONB may reorder keys, so the
// records inside are re-encoded through their wire types: a replay returns
// byte for byte what the first response did.
func replayResult(dm *store.DeviceMutation) (*syncproto.MutationResult, error) {
	var r syncproto.MutationResult
	if err := json.Unmarshal([]byte(dm.Result), &r); err != nil {
		return nil, fmt.Errorf("read logged result of %s: %w", dm.MutationID, err)
	}
	if len(r.Current) > 0 {
		c, err := canonicalRecord(dm.Entity, r.Current)
		if err != nil {
			return nil, fmt.Errorf("read logged result of %s: %w", dm.MutationID, err)
		}
		r.Current = c
	}
	for i := range r.Conflicts {
		r.Conflicts[i].DeviceValue = canonicalScalar(r.Conflicts[i].DeviceValue)
		r.Conflicts[i].ServerValue = canonicalScalar(r.Conflicts[i].ServerValue)
	}
	return &r, nil
}

func canonicalRecord(entity string, raw json.RawMessage) (json.RawMessage, error) {
	var v any
	switch entity {
	case syncproto.EntityHousehold:
		v = &syncproto.Household{}
	case syncproto.EntityVisit:
		v = &syncproto.Visit{}
	case syncproto.EntityVisitPlan:
		v = &syncproto.VisitPlan{}
	case syncproto.EntityNeed:
		v = &syncproto.FinancingNeed{}
	case syncproto.EntityLoan:
		v = &syncproto.LoanApplication{}
	default:
		return canonicalScalar(raw), nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	return mustJSON(v), nil
}

func canonicalScalar(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	return mustJSON(v)
}

// --- Loading ------------------------------------------------------------------

// load reads, in a handful of bulk queries, every row the fresh mutations
// touch or reference. Nothing is locked: every write is checked against the
// version read here (store.WriteVisits and friends), and a row that changed
// in between makes the whole batch run again (store.ErrWriteRace), so
// concurrent writers cost a retry, never a lost update. Taking row locks on
// hundreds of rows per batch would cost a write per row even when nobody
// competes.
func (b *batch) load(fresh []*outcome) error {
	b.households = map[string]*rec[hhRow]{}
	b.assignStart = map[string]time.Time{}
	b.dueOn = map[string]string{}
	b.visits = map[string]*rec[store.Visit]{}
	b.plans = map[string]*rec[store.VisitPlan]{}
	b.needs = map[string]*rec[store.FinancingNeed]{}
	b.loans = map[string]*rec[store.LoanApplication]{}
	b.products = map[string]store.LoanProduct{}
	b.failed = map[string]bool{}
	b.movedFrom = map[string]time.Time{}
	if len(fresh) == 0 {
		return nil
	}
	want := map[string]map[string]bool{}
	add := func(entity, id string) {
		if id == "" {
			return
		}
		if want[entity] == nil {
			want[entity] = map[string]bool{}
		}
		want[entity][id] = true
	}
	ref := func(c *checked, field string) string {
		if v, ok := c.fields[field]; ok && !v.null {
			return v.s
		}
		return ""
	}
	for _, oc := range fresh {
		c, rej := Check(oc.m)
		if rej != nil {
			oc.status, oc.rej, oc.rule = syncproto.StatusRejected, rej, RuleValidation
			// Load the record anyway, so the verdict can carry the server's
			// version of it when the officer may see it.
			if _, known := rulesByEntity[oc.m.Entity]; known && safeID.MatchString(oc.m.EntityID) {
				add(oc.m.Entity, oc.m.EntityID)
			}
			continue
		}
		oc.c = c
		m := oc.m
		if m.Op != syncproto.OpCreate || !b.trustCreates {
			add(m.Entity, m.EntityID)
		}
		add(syncproto.EntityHousehold, ref(c, "household_id"))
		add(syncproto.EntityVisit, ref(c, "visit_id"))
		add(syncproto.EntityNeed, ref(c, "need_id"))
		add(syncproto.EntityLoanProduct, ref(c, "product_id"))
	}
	// Households that mutations edit are read whole; those they only refer
	// to, as references (see hhRow.ref).
	edited := map[string]bool{}
	for _, oc := range fresh {
		if oc.m.Entity == syncproto.EntityHousehold {
			edited[oc.m.EntityID] = true
		}
	}
	var hh []string
	for id := range want[syncproto.EntityHousehold] {
		hh = append(hh, id)
	}
	rows, err := b.tx.VisitsByID(b.a, keys(want[syncproto.EntityVisit]), false)
	if err != nil {
		return err
	}
	for _, r := range rows {
		b.visits[r.ID] = &rec[store.Visit]{row: r, stored: true, version: r.Version, stamps: store.ParseFieldTimes(r.FieldTimes)}
		hh = append(hh, r.HouseholdID)
	}
	plans, err := b.tx.VisitPlansByID(b.a, keys(want[syncproto.EntityVisitPlan]), false)
	if err != nil {
		return err
	}
	for _, r := range plans {
		b.plans[r.ID] = &rec[store.VisitPlan]{row: r, stored: true, version: r.Version, stamps: store.ParseFieldTimes(r.FieldTimes)}
		hh = append(hh, r.HouseholdID)
	}
	needs, err := b.tx.NeedsByID(b.a, keys(want[syncproto.EntityNeed]), false)
	if err != nil {
		return err
	}
	for _, r := range needs {
		b.needs[r.ID] = &rec[store.FinancingNeed]{row: r, stored: true, version: r.Version, stamps: store.ParseFieldTimes(r.FieldTimes)}
		hh = append(hh, r.HouseholdID)
	}
	loans, err := b.tx.LoansByID(b.a, keys(want[syncproto.EntityLoan]), false)
	if err != nil {
		return err
	}
	for _, r := range loans {
		b.loans[r.ID] = &rec[store.LoanApplication]{row: r, stored: true, version: r.Version, stamps: store.ParseFieldTimes(r.FieldTimes)}
		hh = append(hh, r.HouseholdID)
		add(syncproto.EntityLoanProduct, r.ProductID)
	}
	products, err := b.tx.LoanProductsByID(b.a, keys(want[syncproto.EntityLoanProduct]))
	if err != nil {
		return err
	}
	for _, p := range products {
		b.products[p.ID] = p
	}
	var whole, refs []string
	for _, id := range uniq(hh) {
		if edited[id] {
			whole = append(whole, id)
		} else {
			refs = append(refs, id)
		}
	}
	households, err := b.tx.HouseholdsInScope(b.a, whole, false)
	if err != nil {
		return err
	}
	var inScope []string
	for _, h := range households {
		r := &rec[hhRow]{row: hhRow{Household: h}, stored: true, version: h.Version, stamps: store.ParseFieldTimes(h.FieldTimes)}
		r.row.phone = b.s.phoneOf(&r.row.Household)
		b.households[h.ID] = r
		inScope = append(inScope, h.ID)
	}
	hrefs, err := b.tx.HouseholdRefsInScope(b.a, refs)
	if err != nil {
		return err
	}
	for _, h := range hrefs {
		b.households[h.ID] = &rec[hhRow]{row: hhRow{Household: store.Household{ID: h.ID, BranchID: b.a.BranchID, OutletID: h.OutletID}, ref: true}, stored: true}
		inScope = append(inScope, h.ID)
	}
	asg, err := b.tx.CurrentAssignments(b.a.BranchID, inScope)
	if err != nil {
		return err
	}
	for _, x := range asg {
		b.assignStart[x.HouseholdID] = x.AssignedAt
		b.dueOn[x.HouseholdID] = x.OfficerDueOn
	}
	return nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func uniq(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// edit builds the merge's view of a mutation on a household's record,
// correcting the device clock and distrusting absurd results.
func (b *batch) edit(m *syncproto.Mutation, householdID string) edit {
	t, suspect := b.corrected(m.DeviceTime, householdID)
	return edit{device: b.dev.ID, seq: m.Seq, base: m.BaseVersion, event: t, suspect: suspect}
}

// corrected maps a device-clock time to server time. A result in the future
// (beyond the allowance) or before the household's current assignment began
// is not trusted: the receive time stands in for it.
func (b *batch) corrected(t time.Time, householdID string) (time.Time, bool) {
	c := t.Add(b.offset).UTC().Truncate(time.Microsecond)
	if c.After(b.now.Add(ClockSkewAllowance)) {
		return b.now, true
	}
	if start, ok := b.assignStart[householdID]; ok && c.Before(start) {
		return b.now, true
	}
	return c, false
}
