package syncsvc

import (
	"encoding/json"
	"time"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Converters from database rows to the wire records devices hold.

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// phoneOf opens a household's phone for its officer's device. Without a
// codec, or when the ciphertext cannot be opened, the masked form is all
// the device gets: never a wrong number, never an error for the whole pull.
func (s *Service) phoneOf(h *store.Household) string {
	if s.opts.PII == nil || len(h.PhoneEnc) == 0 {
		return h.PhoneMasked
	}
	p, err := s.opts.PII.Open(pii.Phone, h.PhoneEnc)
	if err != nil {
		return h.PhoneMasked
	}
	return p
}

func householdWire(h *store.Household, phone string, asg *store.AssignmentTerms) syncproto.Household {
	w := syncproto.Household{
		ID: h.ID, HouseholdNo: h.HouseholdNo, HeadName: h.HeadName, IDNumberMasked: h.IDNumberMasked, Phone: phone,
		Province: h.Province, City: h.City, County: h.County, Township: h.Township, Village: h.Village,
		FamilySize: h.FamilySize, Category: h.Category, RiskType: h.RiskType, HasLabor: h.HasLabor,
		RiskEliminated: h.RiskEliminated, IdentifiedOn: h.IdentifiedOn, Lat: h.Lat, Lng: h.Lng,
		SituationNotes: h.SituationNotes, OutletID: deref(h.OutletID), OfficerID: deref(h.OfficerID),
		Version: h.Version, UpdatedAt: h.UpdatedAt.UTC(),
	}
	if asg != nil {
		at := asg.AssignedAt.UTC()
		w.AssignedAt = &at
		w.DueOn = asg.OfficerDueOn
	}
	return w
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func visitWire(v *store.Visit) syncproto.Visit {
	return syncproto.Visit{
		ID: v.ID, HouseholdID: v.HouseholdID, OfficerID: v.OfficerID, Outcome: v.Outcome, Situation: v.Situation,
		Notes: v.Notes, Lat: v.Lat, Lng: v.Lng, AccuracyM: v.AccuracyM, StartedAt: v.StartedAt.UTC(),
		EndedAt: utcPtr(v.EndedAt), VisitedAt: v.VisitedAt.UTC(), ReceivedAt: v.ReceivedAt.UTC(),
		ClockSuspect: v.ClockSuspect, Status: v.Status, ReviewNote: v.ReviewNote, Version: v.Version,
	}
}

func planWire(p *store.VisitPlan) syncproto.VisitPlan {
	return syncproto.VisitPlan{ID: p.ID, HouseholdID: p.HouseholdID, OfficerID: p.OfficerID, PlannedOn: p.PlannedOn,
		WindowEnd: p.WindowEnd, Notes: p.Notes, Status: p.Status, Version: p.Version}
}

func needWire(n *store.FinancingNeed) syncproto.FinancingNeed {
	return syncproto.FinancingNeed{ID: n.ID, HouseholdID: n.HouseholdID, VisitID: deref(n.VisitID), Purpose: n.Purpose,
		AmountFen: n.AmountFen, Status: n.Status, Notes: n.Notes, Version: n.Version}
}

func loanWire(l *store.LoanApplication) syncproto.LoanApplication {
	return syncproto.LoanApplication{ID: l.ID, HouseholdID: l.HouseholdID, NeedID: deref(l.NeedID), ProductID: l.ProductID,
		AmountFen: l.AmountFen, TermMonths: l.TermMonths, Purpose: l.Purpose, Status: l.Status,
		DecisionNote: l.DecisionNote, Version: l.Version}
}

func productWire(p *store.LoanProduct) syncproto.LoanProduct {
	return syncproto.LoanProduct{ID: p.ID, Code: p.Code, Name: p.Name, MaxAmountFen: p.MaxAmountFen,
		MaxTermMonths: p.MaxTermMonths, CollateralRequired: p.CollateralRequired,
		GovernmentGuaranteed: p.GovernmentGuaranteed, InterestSubsidy: p.InterestSubsidy, Active: p.Active, Version: p.Version}
}

func taskWire(t *store.Task) syncproto.Task {
	return syncproto.Task{ID: t.ID, Kind: t.Kind, HouseholdID: deref(t.HouseholdID), VisitID: deref(t.VisitID),
		Reason: t.Reason, Status: t.Status, CreatedAt: t.CreatedAt.UTC(), Version: t.Version}
}

func rejectionWire(c *store.Conflict) syncproto.RejectionRecord {
	return syncproto.RejectionRecord{ID: c.ID, DeviceID: c.DeviceID, MutationID: c.MutationID, Entity: c.Entity,
		EntityID: c.EntityID, Rejection: syncproto.Rejection{Code: c.Code, Field: c.Field, Message: c.Message},
		CreatedAt: c.CreatedAt.UTC()}
}

// mustJSON marshals a wire record; they are plain structs that always marshal.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
