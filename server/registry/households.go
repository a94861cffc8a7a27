package registry

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/store"
)

// Household is a household as staff APIs show it: ID and phone masked.
type Household struct {
	ID             string     `json:"id"`
	HouseholdNo    string     `json:"household_no"`
	HeadName       string     `json:"head_name"`
	IDNumberMasked string     `json:"id_number_masked"`
	PhoneMasked    string     `json:"phone_masked"`
	Province       string     `json:"province"`
	City           string     `json:"city"`
	County         string     `json:"county"`
	Township       string     `json:"township"`
	Village        string     `json:"village"`
	FamilySize     int        `json:"family_size"`
	Category       string     `json:"category"`
	RiskType       string     `json:"risk_type"`
	HasLabor       bool       `json:"has_labor"`
	RiskEliminated bool       `json:"risk_eliminated"`
	IdentifiedOn   string     `json:"identified_on,omitempty"`
	ListStatus     string     `json:"list_status"`
	RemovedAt      *time.Time `json:"removed_at,omitempty"`
	CountyID       string     `json:"county_id,omitempty"`
	OutletID       string     `json:"outlet_id,omitempty"`
	OutletName     string     `json:"outlet_name,omitempty"`
	OfficerID      string     `json:"officer_id,omitempty"`
	OfficerName    string     `json:"officer_name,omitempty"`
	OutletDueOn    string     `json:"outlet_due_on,omitempty"`
	OfficerDueOn   string     `json:"officer_due_on,omitempty"`
	AssignedAt     *time.Time `json:"assigned_at,omitempty"`
	Version        int64      `json:"version"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

func toHousehold(v store.HouseholdView) Household {
	return Household{
		ID: v.ID, HouseholdNo: v.HouseholdNo, HeadName: v.HeadName, IDNumberMasked: v.IDNumberMasked, PhoneMasked: v.PhoneMasked,
		Province: v.Province, City: v.City, County: v.County, Township: v.Township, Village: v.Village,
		FamilySize: v.FamilySize, Category: v.Category, RiskType: v.RiskType, HasLabor: v.HasLabor,
		RiskEliminated: v.RiskEliminated, IdentifiedOn: v.IdentifiedOn, ListStatus: v.ListStatus, RemovedAt: v.RemovedAt,
		CountyID: deref(v.CountyID), OutletID: deref(v.OutletID), OutletName: v.OutletName, OfficerID: deref(v.OfficerID),
		OfficerName: v.OfficerName, OutletDueOn: v.OutletDueOn, OfficerDueOn: v.OfficerDueOn, AssignedAt: v.AssignedAt,
		Version: v.Version, UpdatedAt: v.UpdatedAt,
	}
}

func toHouseholds(vs []store.HouseholdView) []Household {
	out := make([]Household, len(vs))
	for i, v := range vs {
		out[i] = toHousehold(v)
	}
	return out
}

// HouseholdQuery is GET /api/v1/households. ID and phone numbers are looked up
// through their blind index; they never reach the database, or a log, in clear.
type HouseholdQuery struct {
	IDNumber    string
	Phone       string
	HouseholdNo string
	OfficerID   string
	OutletID    string
	CountyID    string
	Township    string
	Village     string
	Status      string
	Unassigned  bool
	Offset      int
	Limit       int
}

// Page limits.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

func pageLimit(limit int) int {
	if limit <= 0 {
		return DefaultPageSize
	}
	return min(limit, MaxPageSize)
}

// Households lists the households the actor reaches.
func (s *Service) Households(ctx context.Context, a store.Actor, q HouseholdQuery) ([]Household, int64, error) {
	if s.codecErr != nil {
		return nil, 0, s.codecErr
	}
	f := store.HouseholdSearch{HouseholdNo: q.HouseholdNo, OfficerID: q.OfficerID, OutletID: q.OutletID, CountyID: q.CountyID,
		Township: q.Township, Village: q.Village, Status: q.Status, Unassigned: q.Unassigned, Offset: max(0, q.Offset), Limit: pageLimit(q.Limit)}
	if q.IDNumber != "" {
		id := pii.Normalize(pii.IDNumber, q.IDNumber)
		if len(id) != 18 && len(id) != 15 {
			return nil, 0, invalid("id_number", "证件号码应为 18 位", "an ID number has 18 characters")
		}
		f.IDNumberBidx = s.codec.BlindIndex(pii.IDNumber, id)
	}
	if q.Phone != "" {
		p := pii.Normalize(pii.Phone, q.Phone)
		if n := utf8.RuneCountInString(p); n < 5 || n > 20 {
			return nil, 0, invalid("phone", "电话号码位数不对", "a phone number has 5 to 20 digits")
		}
		f.PhoneBidx = s.codec.BlindIndex(pii.Phone, p)
	}
	vs, total, err := s.db.ListHouseholds(ctx, a, f)
	if err != nil {
		return nil, 0, err
	}
	return toHouseholds(vs), total, nil
}

// Household loads one household the actor reaches.
func (s *Service) Household(ctx context.Context, a store.Actor, id string) (Household, error) {
	v, err := s.db.HouseholdView(ctx, a, id)
	if err != nil {
		return Household{}, err
	}
	return toHousehold(v), nil
}

// RevealInput is POST /api/v1/households/{id}/reveal.
type RevealInput struct {
	Fields []string `json:"fields"` // "id_number", "phone"; empty means both
	Reason string   `json:"reason"` // why the clear value is needed; required, audited
}

// Revealed is the answer to a reveal: the clear values asked for.
type Revealed struct {
	HouseholdID string `json:"household_id"`
	IDNumber    string `json:"id_number,omitempty"`
	Phone       string `json:"phone,omitempty"`
}

// Reveal gives staff above the officer a household's clear ID and phone
// numbers, for a stated reason, and records it in the audit log.
func (s *Service) Reveal(ctx context.Context, a store.Actor, id string, in RevealInput) (Revealed, error) {
	if s.codecErr != nil {
		return Revealed{}, s.codecErr
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" {
		return Revealed{}, invalid("reason", "请说明查看完整号码的原因", "say why the full numbers are needed")
	}
	if utf8.RuneCountInString(reason) > 200 {
		return Revealed{}, invalid("reason", "原因不超过 200 字", "the reason is at most 200 characters")
	}
	fields := in.Fields
	if len(fields) == 0 {
		fields = []string{store.RevealIDNumber, store.RevealPhone}
	}
	want := map[string]bool{}
	for _, f := range fields {
		if f != store.RevealIDNumber && f != store.RevealPhone {
			return Revealed{}, invalid("fields", "fields 只能是 id_number 或 phone", "fields may be id_number and phone")
		}
		want[f] = true
	}
	var out Revealed
	err := s.db.RevealHousehold(ctx, a, id, fields, reason, func(h store.Household) error {
		out = Revealed{HouseholdID: h.ID}
		var err error
		if want[store.RevealIDNumber] {
			if out.IDNumber, err = s.codec.Open(pii.IDNumber, h.IDNumberEnc); err != nil {
				return err
			}
		}
		if want[store.RevealPhone] {
			if out.Phone, err = s.codec.Open(pii.Phone, h.PhoneEnc); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Unvisited lists households in reach never visited (since the zero time)
// or not visited since a date, per officer.
func (s *Service) Unvisited(ctx context.Context, a store.Actor, officerID, since string, offset, limit int) ([]Household, int64, error) {
	var from time.Time
	if since != "" {
		d, err := time.ParseInLocation(time.DateOnly, since, s.opts.Location)
		if err != nil {
			return nil, 0, invalid("since", "日期格式应为 YYYY-MM-DD", "dates are written YYYY-MM-DD")
		}
		from = d.UTC()
	}
	vs, total, err := s.db.UnvisitedHouseholds(ctx, a, officerID, from, max(0, offset), pageLimit(limit))
	if err != nil {
		return nil, 0, err
	}
	return toHouseholds(vs), total, nil
}
