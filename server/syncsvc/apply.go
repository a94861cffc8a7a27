package syncsvc

import (
	"fmt"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// judge decides one fresh mutation against the working set, changing the
// working set only when the mutation is accepted or merged.
func (b *batch) judge(oc *outcome) {
	if oc.c == nil { // failed Check in load
		b.noteFailedCreate(oc)
		if oc.m.Op != syncproto.OpCreate {
			// currentJSON shows the record only if the officer may see it.
			oc.entity, oc.id, oc.current = oc.m.Entity, oc.m.EntityID, true
		}
		return
	}
	m := oc.m
	oc.entity, oc.id = m.Entity, m.EntityID
	switch m.Entity {
	case syncproto.EntityHousehold:
		b.judgeHousehold(oc)
	case syncproto.EntityVisit:
		b.judgeVisit(oc)
	case syncproto.EntityVisitPlan:
		b.judgePlan(oc)
	case syncproto.EntityNeed:
		b.judgeNeed(oc)
	case syncproto.EntityLoan:
		b.judgeLoan(oc)
	}
	if oc.rej != nil {
		b.noteFailedCreate(oc)
	}
}

func (b *batch) noteFailedCreate(oc *outcome) {
	if oc.m.Op == syncproto.OpCreate {
		b.failed[oc.m.Entity+":"+oc.m.EntityID] = true
	}
}

// refuse records a rejection. showCurrent says whether the device may see
// the record as it stands (it is in the officer's scope).
func (oc *outcome) refuse(rule string, rej *syncproto.Rejection, showCurrent bool) {
	oc.status, oc.rej, oc.rule, oc.current = syncproto.StatusRejected, rej, rule, showCurrent
}

// acceptCreate accepts a new record. Its result carries the version but not
// the record: the record is what the device sent plus server-set fields,
// which the device receives on its next pull. Creates are most of what
// devices push, and leaving the record out keeps results (and the mutation
// log that stores them) small.
func (oc *outcome) acceptCreate(householdID string) {
	oc.accept(householdID, nil)
	oc.current = false
}

func (oc *outcome) accept(householdID string, conflicts []fieldConflict) {
	oc.status, oc.householdID, oc.conflicts, oc.current = syncproto.StatusAccepted, householdID, conflicts, true
	if len(conflicts) > 0 {
		oc.status = syncproto.StatusMerged
	}
}

func (b *batch) missing(oc *outcome) {
	key := oc.m.Entity + ":" + oc.m.EntityID
	if b.failed[key] {
		oc.refuse(RuleDependency, rejectf(syncproto.RejectDependency, "entity_id",
			"此记录的创建在本次推送中已被拒绝", "this record's creation was rejected earlier in this push"), false)
		return
	}
	oc.refuse(RuleDependency, rejectf(syncproto.RejectDependency, "entity_id",
		"记录 %s 不存在（其创建被拒绝或尚未送达）", "record %s does not exist (its creation was rejected or never arrived)", oc.m.EntityID), false)
}

func outOfScope(field string) *syncproto.Rejection {
	return reject(syncproto.RejectOutOfScope, field, "该户不在您当前负责的范围内", "the household is not in your current scope")
}

func alreadyExists() *syncproto.Rejection {
	return reject(syncproto.RejectAlreadyExists, "entity_id", "该编号的记录已存在", "a record with this id already exists")
}

func deletedRecord() *syncproto.Rejection {
	return reject(syncproto.RejectNotFound, "entity_id", "该记录已被删除", "the record was deleted")
}

func fixedHousehold(c *checked, current string) *syncproto.Rejection {
	if v, ok := c.fields["household_id"]; ok && v.s != current {
		return reject(syncproto.RejectInvalidField, "household_id", "记录创建后不能改到其他户", "a record cannot move to another household after it is created")
	}
	return nil
}

// dependency checks that a referenced record of the same household exists.
func (b *batch) dependency(field, entity, id, householdID string, exists bool, deleted bool, ofHousehold string) *syncproto.Rejection {
	switch {
	case b.failed[entity+":"+id]:
		return rejectf(syncproto.RejectDependency, field, "所引用的记录 %[1]s 在本次推送中已被拒绝", "the referenced %[2]s %[1]s was rejected earlier in this push", id, entity)
	case !exists || deleted:
		return rejectf(syncproto.RejectDependency, field, "所引用的记录 %[1]s 不存在或已被拒绝", "the referenced %[2]s %[1]s does not exist or was rejected", id, entity)
	case ofHousehold != householdID:
		return reject(syncproto.RejectInvalidField, field, "所引用的记录属于其他户", "the referenced record belongs to another household")
	}
	return nil
}

// --- Households ---------------------------------------------------------------

func (b *batch) judgeHousehold(oc *outcome) {
	c, m := oc.c, oc.m
	h := b.households[m.EntityID]
	if h == nil {
		oc.refuse(RuleScope, outOfScope("entity_id"), false)
		return
	}
	oc.householdID = h.row.ID
	if c.has("phone") && b.s.opts.PII == nil {
		oc.refuse(RuleValidation, reject(syncproto.RejectInvalidField, "phone", "服务器未配置电话号码加密，暂不能修改电话", "the server cannot store phone numbers (no encryption key configured)"), true)
		return
	}
	e := b.edit(m, h.row.ID)
	row := h.row
	stamps := cloneStamps(h.stamps)
	changed, conflicts := mergeLWW(householdAccess, &row, stamps, c, e, h.next())
	if changed {
		if row.phone != h.row.phone {
			enc, err := b.s.opts.PII.Seal(pii.Phone, row.phone)
			if err != nil {
				oc.refuse(RuleValidation, reject(syncproto.RejectInvalidField, "phone", "电话号码无法加密保存", "the phone number could not be stored"), true)
				return
			}
			row.PhoneEnc, row.PhoneBidx, row.PhoneMasked = enc, b.s.opts.PII.BlindIndex(pii.Phone, row.phone), pii.Mask(pii.Phone, row.phone)
		}
		if !sameF(row.Lat, h.row.Lat) || !sameF(row.Lng, h.row.Lng) {
			row.LocationSource = "visit"
		}
		row.UpdatedAt = b.now
		h.row, h.stamps = row, stamps
		b.markDirty(syncproto.EntityHousehold, row.ID, &h.dirty)
	}
	oc.accept(h.row.ID, conflicts)
}

func sameF(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// --- Visits -------------------------------------------------------------------

func (b *batch) judgeVisit(oc *outcome) {
	c, m := oc.c, oc.m
	r := b.visits[m.EntityID]
	if m.Op == syncproto.OpCreate {
		if r != nil {
			oc.refuse(RuleExists, alreadyExists(), b.visible(r.row.HouseholdID) && r.row.DeletedAt == nil)
			return
		}
		hid := c.fields["household_id"].s
		h := b.households[hid]
		if h == nil {
			oc.refuse(RuleScope, outOfScope("household_id"), false)
			return
		}
		e := b.edit(m, hid)
		row := store.Visit{ID: m.EntityID, BranchID: b.a.BranchID, HouseholdID: hid, OfficerID: b.a.UserID,
			OutletID: h.row.OutletID, DeviceID: &b.dev.ID, Status: syncproto.VisitRecorded, Flags: "[]",
			ReceivedAt: b.now, CreatedAt: b.now, UpdatedAt: b.now}
		for _, name := range c.names {
			if acc, ok := visitAccess[name]; ok {
				acc.set(&row, c.fields[name])
			}
		}
		if rej := checkVisitTimes(&row); rej != nil {
			oc.refuse(RuleValidation, rej, false)
			return
		}
		b.placeVisit(&row, e)
		nr := &rec[store.Visit]{row: row, stamps: store.FieldTimes{store.FieldTimesAll: e.stamp(1)}}
		b.visits[row.ID] = nr
		b.markDirty(syncproto.EntityVisit, row.ID, &nr.dirty)
		oc.acceptCreate(hid)
		return
	}
	if r == nil {
		b.missing(oc)
		return
	}
	visible := b.visible(r.row.HouseholdID)
	switch {
	case r.row.DeletedAt != nil:
		oc.refuse(RuleExists, deletedRecord(), false)
		return
	case !visible || r.row.OfficerID != b.a.UserID:
		oc.refuse(RuleScope, reject(syncproto.RejectOutOfScope, "entity_id", "只有记录这次走访的客户经理、且该户仍由其负责时才能修改", "only the officer who recorded the visit, while the household is theirs, may edit it"), visible)
		return
	case r.row.Status == syncproto.VisitConfirmed:
		oc.refuse(RuleVisitConfirmed, reject(syncproto.RejectConfirmed, "", "主管已确认此次走访，不能再修改", "a supervisor confirmed this visit; it can no longer be edited"), true)
		return
	}
	if rej := fixedHousehold(c, r.row.HouseholdID); rej != nil {
		oc.refuse(RuleValidation, rej, true)
		return
	}
	e := b.edit(m, r.row.HouseholdID)
	row := r.row
	stamps := cloneStamps(r.stamps)
	changed, conflicts := mergeLWW(visitAccess, &row, stamps, c, e, r.next())
	if changed {
		if rej := checkVisitTimes(&row); rej != nil {
			oc.refuse(RuleValidation, rej, true)
			return
		}
		if !row.StartedAt.Equal(r.row.StartedAt) {
			b.placeVisit(&row, e)
		} else if e.suspect {
			row.ClockSuspect = true
		}
		if _, ok := b.movedFrom[row.ID]; !ok && r.stored && !row.VisitedAt.Equal(r.row.VisitedAt) {
			b.movedFrom[row.ID] = r.row.VisitedAt // as stored: r.row is the stored row until its first change here
		}
		row.UpdatedAt = b.now
		r.row, r.stamps = row, stamps
		b.markDirty(syncproto.EntityVisit, row.ID, &r.dirty)
	}
	oc.accept(row.HouseholdID, conflicts)
}

func checkVisitTimes(v *store.Visit) *syncproto.Rejection {
	if v.EndedAt != nil && v.EndedAt.Before(v.StartedAt) {
		return reject(syncproto.RejectInvalidField, "ended_at", "结束时间早于开始时间", "ended_at is before started_at")
	}
	return nil
}

// placeVisit sets visited_at from the device's started_at, corrected for the
// clock offset; an untrusted result is replaced by the receive time and the
// visit flagged.
func (b *batch) placeVisit(v *store.Visit, e edit) {
	t, suspect := b.corrected(v.StartedAt, v.HouseholdID)
	v.VisitedAt = t
	v.ClockSuspect = suspect || e.suspect
}

func (b *batch) visible(householdID string) bool { return b.households[householdID] != nil }

// --- Visit plans --------------------------------------------------------------

func (b *batch) judgePlan(oc *outcome) {
	c, m := oc.c, oc.m
	r := b.plans[m.EntityID]
	if m.Op == syncproto.OpCreate {
		if r != nil {
			oc.refuse(RuleExists, alreadyExists(), b.visible(r.row.HouseholdID) && r.row.DeletedAt == nil)
			return
		}
		hid := c.fields["household_id"].s
		if !b.visible(hid) {
			oc.refuse(RuleScope, outOfScope("household_id"), false)
			return
		}
		e := b.edit(m, hid)
		row := store.VisitPlan{ID: m.EntityID, BranchID: b.a.BranchID, HouseholdID: hid, OfficerID: b.a.UserID,
			Status: syncproto.PlanPlanned, CreatedBy: b.a.UserID, CreatedAt: b.now, UpdatedAt: b.now}
		for _, name := range c.names {
			if acc, ok := planAccess[name]; ok {
				acc.set(&row, c.fields[name])
			}
		}
		if rej := checkPlanDates(&row); rej != nil {
			oc.refuse(RuleValidation, rej, false)
			return
		}
		nr := &rec[store.VisitPlan]{row: row, stamps: store.FieldTimes{store.FieldTimesAll: e.stamp(1)}}
		b.plans[row.ID] = nr
		b.markDirty(syncproto.EntityVisitPlan, row.ID, &nr.dirty)
		oc.acceptCreate(hid)
		return
	}
	if r == nil {
		b.missing(oc)
		return
	}
	visible := b.visible(r.row.HouseholdID)
	switch {
	case r.row.DeletedAt != nil && m.Op == syncproto.OpDelete && visible:
		oc.accept(r.row.HouseholdID, nil) // deleting twice is deleting
		oc.current = false
		return
	case r.row.DeletedAt != nil:
		oc.refuse(RuleExists, deletedRecord(), false)
		return
	case !visible:
		oc.refuse(RuleScope, outOfScope("entity_id"), false)
		return
	}
	if m.Op == syncproto.OpDelete {
		r.row.DeletedAt = &b.now
		r.row.UpdatedAt = b.now
		b.markDirty(syncproto.EntityVisitPlan, r.row.ID, &r.dirty)
		oc.accept(r.row.HouseholdID, nil)
		oc.current = false
		return
	}
	if rej := fixedHousehold(c, r.row.HouseholdID); rej != nil {
		oc.refuse(RuleValidation, rej, true)
		return
	}
	e := b.edit(m, r.row.HouseholdID)
	row := r.row
	stamps := cloneStamps(r.stamps)
	changed, conflicts := mergeLWW(planAccess, &row, stamps, c, e, r.next())
	if changed {
		if rej := checkPlanDates(&row); rej != nil {
			oc.refuse(RuleValidation, rej, true)
			return
		}
		row.UpdatedAt = b.now
		r.row, r.stamps = row, stamps
		b.markDirty(syncproto.EntityVisitPlan, row.ID, &r.dirty)
	}
	oc.accept(row.HouseholdID, conflicts)
}

func checkPlanDates(p *store.VisitPlan) *syncproto.Rejection {
	if p.WindowEnd != "" && p.WindowEnd < p.PlannedOn {
		return reject(syncproto.RejectInvalidField, "window_end", "计划窗口结束日期早于计划日期", "window_end is before planned_on")
	}
	return nil
}

// --- Financing needs ----------------------------------------------------------

func (b *batch) visitRef(c *checked, householdID string) *syncproto.Rejection {
	v, ok := c.fields["visit_id"]
	if !ok || v.null || v.s == "" {
		return nil
	}
	r := b.visits[v.s]
	if r == nil {
		return b.dependency("visit_id", syncproto.EntityVisit, v.s, householdID, false, false, "")
	}
	return b.dependency("visit_id", syncproto.EntityVisit, v.s, householdID, true, r.row.DeletedAt != nil, r.row.HouseholdID)
}

func (b *batch) judgeNeed(oc *outcome) {
	c, m := oc.c, oc.m
	r := b.needs[m.EntityID]
	if m.Op == syncproto.OpCreate {
		if r != nil {
			oc.refuse(RuleExists, alreadyExists(), b.visible(r.row.HouseholdID) && r.row.DeletedAt == nil)
			return
		}
		hid := c.fields["household_id"].s
		if !b.visible(hid) {
			oc.refuse(RuleScope, outOfScope("household_id"), false)
			return
		}
		if rej := b.visitRef(c, hid); rej != nil {
			oc.refuse(RuleDependency, rej, false)
			return
		}
		e := b.edit(m, hid)
		row := store.FinancingNeed{ID: m.EntityID, BranchID: b.a.BranchID, HouseholdID: hid, OfficerID: b.a.UserID,
			Status: syncproto.NeedRecorded, CreatedAt: b.now, UpdatedAt: b.now}
		for _, name := range c.names {
			if acc, ok := needAccess[name]; ok {
				acc.set(&row, c.fields[name])
			}
		}
		if v, ok := c.fields["status"]; ok {
			row.Status = v.s
		}
		nr := &rec[store.FinancingNeed]{row: row, stamps: store.FieldTimes{store.FieldTimesAll: e.stamp(1)}}
		b.needs[row.ID] = nr
		b.markDirty(syncproto.EntityNeed, row.ID, &nr.dirty)
		oc.acceptCreate(hid)
		return
	}
	if r == nil {
		b.missing(oc)
		return
	}
	visible := b.visible(r.row.HouseholdID)
	switch {
	case r.row.DeletedAt != nil && m.Op == syncproto.OpDelete && visible:
		oc.accept(r.row.HouseholdID, nil)
		oc.current = false
		return
	case r.row.DeletedAt != nil:
		oc.refuse(RuleExists, deletedRecord(), false)
		return
	case !visible:
		oc.refuse(RuleScope, outOfScope("entity_id"), false)
		return
	}
	if m.Op == syncproto.OpDelete {
		if r.row.Status != syncproto.NeedRecorded {
			oc.refuse(RuleNeedForward, reject(syncproto.RejectIllegalState, "status", "需求已转介或办结，不能删除", "a need that was referred or closed cannot be deleted"), true)
			return
		}
		r.row.DeletedAt = &b.now
		r.row.UpdatedAt = b.now
		b.markDirty(syncproto.EntityNeed, r.row.ID, &r.dirty)
		oc.accept(r.row.HouseholdID, nil)
		oc.current = false
		return
	}
	if rej := fixedHousehold(c, r.row.HouseholdID); rej != nil {
		oc.refuse(RuleValidation, rej, true)
		return
	}
	if rej := b.visitRef(c, r.row.HouseholdID); rej != nil {
		oc.refuse(RuleDependency, rej, true)
		return
	}
	e := b.edit(m, r.row.HouseholdID)
	row := r.row
	stamps := cloneStamps(r.stamps)
	var conflicts []fieldConflict
	statusChanged := false
	if v, ok := c.fields["status"]; ok && v.s != row.Status {
		cur, next := needRank[row.Status], needRank[v.s]
		st, stamped := stamps.Get("status")
		_, concurrent := deviceWins(st, stamped, e)
		switch {
		case next > cur:
			row.Status = v.s
			stamps["status"] = e.stamp(r.next())
			statusChanged = true
		case concurrent:
			// The server moved the status on while the device was offline:
			// the stale status loses the merge, the other fields still merge.
			conflicts = append(conflicts, fieldConflict{field: "status", rule: RuleNeedForward,
				device: mustJSON(v.s), server: mustJSON(row.Status), winner: "server"})
		default:
			oc.refuse(RuleNeedForward, rejectf(syncproto.RejectStatusBackwards, "status",
				"需求状态只能向前推进，不能从 %s 改为 %s", "a need's status only moves forward, not from %s to %s", row.Status, v.s), true)
			return
		}
	}
	changed, more := mergeLWW(needAccess, &row, stamps, c, e, r.next())
	conflicts = append(conflicts, more...)
	if changed || statusChanged {
		row.UpdatedAt = b.now
		r.row, r.stamps = row, stamps
		b.markDirty(syncproto.EntityNeed, row.ID, &r.dirty)
	}
	oc.accept(row.HouseholdID, conflicts)
}

// --- Loan applications --------------------------------------------------------

func (b *batch) needRef(c *checked, householdID string) *syncproto.Rejection {
	v, ok := c.fields["need_id"]
	if !ok || v.null || v.s == "" {
		return nil
	}
	r := b.needs[v.s]
	if r == nil {
		return b.dependency("need_id", syncproto.EntityNeed, v.s, householdID, false, false, "")
	}
	return b.dependency("need_id", syncproto.EntityNeed, v.s, householdID, true, r.row.DeletedAt != nil, r.row.HouseholdID)
}

// checkProduct validates amount and term against the loan product.
func (b *batch) checkProduct(l *store.LoanApplication) *syncproto.Rejection {
	p, ok := b.products[l.ProductID]
	if !ok {
		return reject(syncproto.RejectInvalidField, "product_id", "贷款产品不存在", "no such loan product")
	}
	if !p.Active {
		return rejectf(syncproto.RejectProductLimit, "product_id", "贷款产品 %s 已停办", "loan product %s is no longer offered", p.Name)
	}
	maxFen, maxTerm := p.MaxAmountFen, p.MaxTermMonths
	if p.Code == PovertyMicroloanCode {
		maxFen, maxTerm = min(maxFen, PovertyMicroloanMaxFen), min(maxTerm, PovertyMicroloanMaxTerms)
	}
	switch {
	case l.AmountFen <= 0:
		return reject(syncproto.RejectProductLimit, "amount_fen", "贷款金额必须大于零", "the amount must be positive")
	case l.AmountFen > maxFen:
		return rejectf(syncproto.RejectProductLimit, "amount_fen", "%s 的金额上限为 %s 元", "%s lends at most %s yuan", p.Name, yuan(maxFen))
	case l.TermMonths <= 0:
		return reject(syncproto.RejectProductLimit, "term_months", "贷款期限必须大于零", "the term must be positive")
	case l.TermMonths > maxTerm:
		return rejectf(syncproto.RejectProductLimit, "term_months", "%s 的期限上限为 %d 个月", "%s lends for at most %d months", p.Name, maxTerm)
	}
	return nil
}

func yuan(fen int64) string {
	if fen%100 == 0 {
		return fmt.Sprintf("%d", fen/100)
	}
	return fmt.Sprintf("%d.%02d", fen/100, fen%100)
}

func (b *batch) judgeLoan(oc *outcome) {
	c, m := oc.c, oc.m
	r := b.loans[m.EntityID]
	if m.Op == syncproto.OpCreate {
		if r != nil {
			oc.refuse(RuleExists, alreadyExists(), b.visible(r.row.HouseholdID) && r.row.DeletedAt == nil)
			return
		}
		hid := c.fields["household_id"].s
		if !b.visible(hid) {
			oc.refuse(RuleScope, outOfScope("household_id"), false)
			return
		}
		if rej := b.needRef(c, hid); rej != nil {
			oc.refuse(RuleDependency, rej, false)
			return
		}
		status := syncproto.LoanDraft
		if v, ok := c.fields["status"]; ok {
			status = v.s
		}
		if status != syncproto.LoanDraft && status != syncproto.LoanSubmitted {
			oc.refuse(RuleLoanStates, rejectf(syncproto.RejectIllegalState, "status", "新申请只能是草稿或已提交，不能是 %s", "a new application is a draft or submitted, not %s", status), false)
			return
		}
		e := b.edit(m, hid)
		row := store.LoanApplication{ID: m.EntityID, BranchID: b.a.BranchID, HouseholdID: hid, OfficerID: b.a.UserID,
			Status: status, CreatedAt: b.now, UpdatedAt: b.now}
		for _, name := range c.names {
			if acc, ok := loanAccess[name]; ok {
				acc.set(&row, c.fields[name])
			}
		}
		if rej := b.checkProduct(&row); rej != nil {
			oc.refuse(RuleLoanProduct, rej, false)
			return
		}
		if status == syncproto.LoanSubmitted {
			row.SubmittedAt = &b.now
		}
		nr := &rec[store.LoanApplication]{row: row, stamps: store.FieldTimes{store.FieldTimesAll: e.stamp(1)}}
		b.loans[row.ID] = nr
		b.markDirty(syncproto.EntityLoan, row.ID, &nr.dirty)
		oc.acceptCreate(hid)
		return
	}
	if r == nil {
		b.missing(oc)
		return
	}
	visible := b.visible(r.row.HouseholdID)
	switch {
	case r.row.DeletedAt != nil && m.Op == syncproto.OpDelete && visible:
		oc.accept(r.row.HouseholdID, nil)
		oc.current = false
		return
	case r.row.DeletedAt != nil:
		oc.refuse(RuleExists, deletedRecord(), false)
		return
	case !visible:
		oc.refuse(RuleScope, outOfScope("entity_id"), false)
		return
	}
	notDraft := rejectf(syncproto.RejectNotDraft, "", "申请已是“%s”状态，设备只能修改草稿", "the application is %s; devices edit drafts only", r.row.Status)
	if m.Op == syncproto.OpDelete {
		if r.row.Status != syncproto.LoanDraft {
			oc.refuse(RuleLoanDraftOnly, notDraft, true)
			return
		}
		r.row.DeletedAt = &b.now
		r.row.UpdatedAt = b.now
		b.markDirty(syncproto.EntityLoan, r.row.ID, &r.dirty)
		oc.accept(r.row.HouseholdID, nil)
		oc.current = false
		return
	}
	if rej := fixedHousehold(c, r.row.HouseholdID); rej != nil {
		oc.refuse(RuleValidation, rej, true)
		return
	}
	edits := false
	for _, name := range c.names {
		if name != "status" && name != "household_id" {
			edits = true
		}
	}
	to := r.row.Status
	if v, ok := c.fields["status"]; ok {
		to = v.s
	}
	if to != r.row.Status && !loanMoveAllowed(r.row.Status, to, "device") {
		oc.refuse(RuleLoanStates, rejectf(syncproto.RejectIllegalState, "status", "申请不能从 %s 改为 %s", "an application cannot move from %s to %s", r.row.Status, to), true)
		return
	}
	if edits && r.row.Status != syncproto.LoanDraft {
		oc.refuse(RuleLoanDraftOnly, notDraft, true)
		return
	}
	if rej := b.needRef(c, r.row.HouseholdID); rej != nil {
		oc.refuse(RuleDependency, rej, true)
		return
	}
	e := b.edit(m, r.row.HouseholdID)
	row := r.row
	stamps := cloneStamps(r.stamps)
	changed, conflicts := mergeLWW(loanAccess, &row, stamps, c, e, r.next())
	moved := to != row.Status
	if moved {
		row.Status = to
		stamps["status"] = e.stamp(r.next())
		if to == syncproto.LoanSubmitted {
			row.SubmittedAt = &b.now
		}
	}
	if changed || to == syncproto.LoanSubmitted && moved {
		if rej := b.checkProduct(&row); rej != nil {
			oc.refuse(RuleLoanProduct, rej, true)
			return
		}
	}
	if changed || moved {
		row.UpdatedAt = b.now
		r.row, r.stamps = row, stamps
		b.markDirty(syncproto.EntityLoan, row.ID, &r.dirty)
	}
	oc.accept(row.HouseholdID, conflicts)
}
