package coverage

import (
	"context"
	"math"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
)

// ScopeInfo names what a ledger covers.
type ScopeInfo struct {
	Kind string `json:"kind"` // outlet, county, branch or officer
	ID   string `json:"id"`
	Code string `json:"code"`
	Name string `json:"name"`
}

// LedgerRow is one household's month.
type LedgerRow struct {
	HouseholdID     string  `json:"household_id"`
	HouseholdNo     string  `json:"household_no"`
	HeadName        string  `json:"head_name"`
	Township        string  `json:"township"`
	Village         string  `json:"village"`
	OutletID        string  `json:"outlet_id,omitempty"`
	OfficerID       string  `json:"officer_id,omitempty"`
	Outcome         Outcome `json:"outcome"`
	Final           bool    `json:"final"`
	Visits          int     `json:"visits"`   // counted visits this month, any outcome
	Attempts        int     `json:"attempts"` // absent attempts this month
	Needs           int     `json:"needs"`
	Exempted        bool    `json:"exempted"`
	ExemptionReason string  `json:"exemption_reason,omitempty"`
}

// Settled reports whether the row needs nothing more for a sign-off: a final
// outcome or an exemption.
func (r LedgerRow) Settled() bool { return r.Final || r.Exempted }

// Summary counts a set of ledger rows.
type Summary struct {
	Households      int `json:"households"`
	VisitedWithNeed int `json:"visited_with_need"`
	Visited         int `json:"visited"` // without a need
	Refused         int `json:"refused"`
	Moved           int `json:"moved"`
	Absent          int `json:"absent"`
	RiskEliminated  int `json:"risk_eliminated"`
	Covered         int `json:"covered"`  // every final outcome
	Exempted        int `json:"exempted"` // not final, exempted with a reason
	Missing         int `json:"missing"`  // neither final nor exempted
	// CoverageRate is covered / (households − exempted), rounded to four
	// places; 1 when nothing needs a visit.
	CoverageRate float64 `json:"coverage_rate"`
}

func (s *Summary) add(r LedgerRow) {
	s.Households++
	switch r.Outcome {
	case OutcomeVisitedWithNeed:
		s.VisitedWithNeed++
	case OutcomeVisited:
		s.Visited++
	case OutcomeRefused:
		s.Refused++
	case OutcomeMoved:
		s.Moved++
	case OutcomeAbsent:
		s.Absent++
	case OutcomeRiskEliminated:
		s.RiskEliminated++
	}
	switch {
	case r.Final:
		s.Covered++
	case r.Exempted:
		s.Exempted++
	default:
		s.Missing++
	}
}

func (s *Summary) finish() {
	need := s.Households - s.Exempted
	if need <= 0 {
		s.CoverageRate = 1
		return
	}
	s.CoverageRate = math.Round(float64(s.Covered)/float64(need)*10000) / 10000
}

// Summarize counts rows.
func Summarize(rows []LedgerRow) Summary {
	var s Summary
	for _, r := range rows {
		s.add(r)
	}
	s.finish()
	return s
}

// OfficerLedger is one officer's part of a ledger: the figures and the
// households still missing.
type OfficerLedger struct {
	OfficerID string      `json:"officer_id"` // empty for households with no officer yet
	Username  string      `json:"username,omitempty"`
	Name      string      `json:"name,omitempty"`
	Summary   Summary     `json:"summary"`
	Missing   []LedgerRow `json:"missing"`
}

// Ledger is a scope's month.
type Ledger struct {
	Month          string          `json:"month"`
	Scope          ScopeInfo       `json:"scope"`
	AbsentAttempts int             `json:"absent_attempts"`
	GeneratedAt    time.Time       `json:"generated_at"`
	Summary        Summary         `json:"summary"`
	Officers       []OfficerLedger `json:"officers"`
	Households     []LedgerRow     `json:"households"`
}

// Complete reports whether every household is settled.
func (l Ledger) Complete() bool { return l.Summary.Missing == 0 }

// RowFromFacts classifies one household's facts.
func RowFromFacts(f store.LedgerFacts, absentAttempts int) LedgerRow {
	o := Classify(MonthFacts{
		Visited: f.Visited, Refused: f.Refused, Moved: f.Moved, Absent: f.Absent,
		Needs: f.Needs, RiskEliminated: f.RiskEliminated,
	}, absentAttempts)
	r := LedgerRow{
		HouseholdID: f.HouseholdID, HouseholdNo: f.HouseholdNo, HeadName: f.HeadName, Township: f.Township,
		Village: f.Village, OutletID: f.OutletID, OfficerID: f.OfficerID, Outcome: o, Final: o.Final(),
		Visits: f.Visited + f.Refused + f.Moved + f.Absent, Attempts: f.Absent, Needs: f.Needs,
	}
	if f.ExemptionReason != nil {
		r.Exempted, r.ExemptionReason = true, *f.ExemptionReason
	}
	return r
}

// buildLedger classifies the facts and groups them by officer, in the
// order the store returned them (officer, household number).
func buildLedger(m Month, sc store.CoverageScope, n int, facts []store.LedgerFacts, names map[string]store.User, at time.Time) Ledger {
	l := Ledger{
		Month: m.String(), Scope: ScopeInfo{Kind: sc.Kind, ID: sc.ID, Code: sc.Code, Name: sc.Name},
		AbsentAttempts: n, GeneratedAt: at, Households: make([]LedgerRow, 0, len(facts)), Officers: []OfficerLedger{},
	}
	idx := map[string]int{}
	for _, f := range facts {
		r := RowFromFacts(f, n)
		l.Households = append(l.Households, r)
		l.Summary.add(r)
		i, ok := idx[r.OfficerID]
		if !ok {
			u := names[r.OfficerID]
			name := u.DisplayName
			if name == "" {
				name = u.Username
			}
			l.Officers = append(l.Officers, OfficerLedger{OfficerID: r.OfficerID, Username: u.Username, Name: name, Missing: []LedgerRow{}})
			i = len(l.Officers) - 1
			idx[r.OfficerID] = i
		}
		o := &l.Officers[i]
		o.Summary.add(r)
		if !r.Settled() {
			o.Missing = append(o.Missing, r)
		}
	}
	l.Summary.finish()
	for i := range l.Officers {
		l.Officers[i].Summary.finish()
	}
	return l
}

// LedgerRequest asks for a month of a scope: an org unit, or an officer, or
// (both empty) the actor's own unit.
type LedgerRequest struct {
	Month     string
	OrgID     string
	OfficerID string
	// Rows chooses the household rows returned: "all" (default), "missing"
	// (only those neither final nor exempted) or "none" (figures only). The
	// figures always count every household.
	Rows string
}

// Row selections of a ledger.
const (
	RowsAll     = "all"
	RowsMissing = "missing"
	RowsNone    = "none"
)

func (s *Service) scopeOf(ctx context.Context, a store.Actor, orgID, officerID string) (store.CoverageScope, error) {
	if err := validID("org", orgID, false); err != nil {
		return store.CoverageScope{}, err
	}
	if err := validID("officer", officerID, false); err != nil {
		return store.CoverageScope{}, err
	}
	if orgID != "" && officerID != "" {
		return store.CoverageScope{}, invalidBoth()
	}
	if orgID == "" && officerID == "" && a.Role == store.RoleAdmin {
		return store.CoverageScope{}, needScope()
	}
	sc, err := s.db.ResolveCoverageScope(ctx, a, orgID, officerID)
	return sc, mapErr(err)
}

// Ledger lists every active household of the scope with its month's outcome,
// the figures, and per officer the coverage rate and the households missing.
func (s *Service) Ledger(ctx context.Context, a store.Actor, req LedgerRequest) (Ledger, error) {
	m, err := s.parseMonthParam(req.Month, true)
	if err != nil {
		return Ledger{}, err
	}
	switch req.Rows {
	case "", RowsAll, RowsMissing, RowsNone:
	default:
		return Ledger{}, apperr.Invalid("rows", "rows 应为 all、missing 或 none", "rows must be all, missing or none").With("value", clip(req.Rows, 32))
	}
	sc, err := s.scopeOf(ctx, a, req.OrgID, req.OfficerID)
	if err != nil {
		return Ledger{}, err
	}
	set, err := s.db.CoverageSettingsOf(ctx, sc.BranchID)
	if err != nil {
		return Ledger{}, err
	}
	from, to := m.Bounds(s.loc)
	facts, err := s.db.CoverageLedger(ctx, a, sc, m.String(), from, to)
	if err != nil {
		return Ledger{}, err
	}
	var ids []string
	seen := map[string]bool{}
	for _, f := range facts {
		if f.OfficerID != "" && !seen[f.OfficerID] {
			seen[f.OfficerID] = true
			ids = append(ids, f.OfficerID)
		}
	}
	names, err := s.db.UserNames(ctx, ids)
	if err != nil {
		return Ledger{}, err
	}
	l := buildLedger(m, sc, set.AbsentAttempts, facts, names, s.now())
	switch req.Rows {
	case RowsMissing:
		kept := l.Households[:0]
		for _, r := range l.Households {
			if !r.Settled() {
				kept = append(kept, r)
			}
		}
		l.Households = kept
	case RowsNone:
		l.Households = []LedgerRow{}
	}
	return l, nil
}
