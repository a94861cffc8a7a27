package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Reads behind the report API and files: names, the households still
// missing in a month, and a household's visit archive. Personal numbers are
// read only in their masked columns; the sealed ones are never selected.

// ReportUnits lists the org units of a branch, parents first.
func (db *DB) ReportUnits(ctx context.Context, branchID string) ([]OrgUnit, error) {
	var out []OrgUnit
	if err := db.gorm.WithContext(ctx).Where("branch_id = ?", branchID).Order("path").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("report: org units: %w", err)
	}
	return out, nil
}

// ReportPerson is a user as the reports name them.
type ReportPerson struct {
	ID          string
	Username    string
	DisplayName string
	OrgUnitID   string
}

// ReportPeople lists a branch's users by id.
func (db *DB) ReportPeople(ctx context.Context, branchID string) (map[string]ReportPerson, error) {
	var ps []ReportPerson
	err := db.gorm.WithContext(ctx).Model(&User{}).Select("id, username, display_name, org_unit_id").
		Where("branch_id = ?", branchID).Scan(&ps).Error
	if err != nil {
		return nil, fmt.Errorf("report: users: %w", err)
	}
	out := make(map[string]ReportPerson, len(ps))
	for _, p := range ps {
		out[p.ID] = p
	}
	return out, nil
}

// ReportMissing is a household in the list with no counted visit in the month.
type ReportMissing struct {
	HouseholdID    string `json:"household_id"`
	HouseholdNo    string `json:"household_no"`
	HeadName       string `json:"head_name"`
	IDNumberMasked string `json:"id_number_masked"`
	PhoneMasked    string `json:"phone_masked"`
	Township       string `json:"township"`
	Village        string `json:"village"`
	CountyID       string `json:"county_id"`
	OutletID       string `json:"outlet_id"`
	OfficerID      string `json:"officer_id"`
	DueOn          string `json:"due_on"`
}

// ReportMissingHouseholds lists the households of a branch's month that are
// in the list and not yet visited by the report's definition, grouped the way
// the figures are: by who answered for them at the month's end.
func (db *DB) ReportMissingHouseholds(ctx context.Context, branchID, month string, clk ReportClock) ([]ReportMissing, error) {
	from, to, err := ReportMonthBounds(month, clk.Loc)
	if err != nil {
		return nil, err
	}
	resp := strings.ReplaceAll(reportRespSQL, "{{ASSIGNED}}", "1 = 1") + "\nUNION ALL" + reportUnassignedSQL
	q := `WITH resp AS (` + resp + `)
		SELECT r.household_id, h.household_no, h.head_name, h.id_number_masked, h.phone_masked, h.township, h.village,
		       r.county_id, r.outlet_id, r.officer_id, r.due_on
		FROM resp r JOIN households h ON h.branch_id = @b AND h.id = r.household_id
		WHERE r.in_list = 1 AND NOT EXISTS (SELECT 1 FROM visits x WHERE ` + reportVisitCounted + `
		      AND x.visited_at >= @s AND x.visited_at < @t)
		ORDER BY r.county_id, r.outlet_id, r.officer_id, h.household_no`
	s, vals := reportSQL(q, map[string]any{"b": branchID, "s": from, "t": to})
	var out []ReportMissing
	if err := db.gorm.WithContext(ctx).Raw(s, vals...).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("report: missing households: %w", err)
	}
	return out, nil
}

// ReportArchiveHousehold is the household part of a visit archive, masked.
type ReportArchiveHousehold struct {
	ID             string     `json:"id"`
	BranchID       string     `json:"-"`
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
	RiskEliminated bool       `json:"risk_eliminated"`
	ListStatus     string     `json:"list_status"`
	OutletID       *string    `json:"outlet_id,omitempty"`
	OfficerID      *string    `json:"officer_id,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	RemovedAt      *time.Time `json:"removed_at,omitempty"`
}

// ReportArchiveAssignment is one period of responsibility.
type ReportArchiveAssignment struct {
	ID           string     `json:"id"`
	OutletID     string     `json:"outlet_id"`
	OfficerID    *string    `json:"officer_id,omitempty"`
	OfficerDueOn string     `json:"officer_due_on,omitempty"`
	AssignedAt   time.Time  `json:"assigned_at"`
	EndedAt      *time.Time `json:"ended_at,omitempty"`
	EndReason    string     `json:"end_reason,omitempty"`
}

// ReportArchiveVisit is one visit of the archive.
type ReportArchiveVisit struct {
	ID           string     `json:"id"`
	OfficerID    string     `json:"officer_id"`
	OutletID     *string    `json:"outlet_id,omitempty"`
	Outcome      string     `json:"outcome"`
	Situation    string     `json:"situation"`
	Notes        string     `json:"notes"`
	VisitedAt    time.Time  `json:"visited_at"`
	ReceivedAt   time.Time  `json:"received_at"`
	ClockSuspect bool       `json:"clock_suspect"`
	Status       string     `json:"status"`
	ReviewNote   string     `json:"review_note,omitempty"`
	Flags        string     `json:"-"`
	AfterClose   bool       `json:"after_close"`
	DeletedAt    *time.Time `json:"deleted_at,omitempty"`
}

// ReportArchiveNeed is one financing need.
type ReportArchiveNeed struct {
	ID        string     `json:"id"`
	VisitID   *string    `json:"visit_id,omitempty"`
	OfficerID string     `json:"officer_id"`
	Purpose   string     `json:"purpose"`
	AmountFen int64      `json:"amount_fen"`
	Status    string     `json:"status"`
	Notes     string     `json:"notes"`
	CreatedAt time.Time  `json:"created_at"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
}

// ReportArchiveLoan is one loan application.
type ReportArchiveLoan struct {
	ID           string     `json:"id"`
	NeedID       *string    `json:"need_id,omitempty"`
	ProductID    string     `json:"product_id"`
	OfficerID    string     `json:"officer_id"`
	AmountFen    int64      `json:"amount_fen"`
	TermMonths   int        `json:"term_months"`
	Purpose      string     `json:"purpose"`
	Status       string     `json:"status"`
	SubmittedAt  *time.Time `json:"submitted_at,omitempty"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
	DecisionNote string     `json:"decision_note,omitempty"`
	DisbursedAt  *time.Time `json:"disbursed_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	DeletedAt    *time.Time `json:"deleted_at,omitempty"`
}

// ReportArchive is the full history of one household (走访档案).
type ReportArchive struct {
	Household   ReportArchiveHousehold    `json:"household"`
	Assignments []ReportArchiveAssignment `json:"assignments"`
	Visits      []ReportArchiveVisit      `json:"visits"`
	Needs       []ReportArchiveNeed       `json:"needs"`
	Loans       []ReportArchiveLoan       `json:"loans"`
}

// ReportHouseholdArchive reads a household's archive if the actor reaches
// the household; ErrNotFound otherwise, so that households out of scope are
// indistinguishable from ones that do not exist.
func (db *DB) ReportHouseholdArchive(ctx context.Context, a Actor, householdID string) (ReportArchive, error) {
	var out ReportArchive
	err := db.Transact(ctx, func(tx *Tx) error {
		q := tx.Table("households h").Select(`h.id, h.branch_id, h.household_no, h.head_name, h.id_number_masked, h.phone_masked,
			h.province, h.city, h.county, h.township, h.village, h.family_size, h.category, h.risk_type, h.risk_eliminated,
			h.list_status, h.outlet_id, h.officer_id, h.created_at, h.removed_at`).Where("h.id = ?", householdID)
		err := a.ScopeHouseholds(q, "h").Take(&out.Household).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("archive: household: %w", err)
		}
		b, id := out.Household.BranchID, out.Household.ID
		steps := []struct {
			what string
			q    *gorm.DB
			dest any
		}{
			{"assignments", tx.Table("assignments").Where("branch_id = ? AND household_id = ?", b, id).Order("assigned_at, id"), &out.Assignments},
			{"visits", tx.Table("visits").Where("branch_id = ? AND household_id = ?", b, id).Order("visited_at, id"), &out.Visits},
			{"needs", tx.Table("financing_needs").Where("branch_id = ? AND household_id = ?", b, id).Order("created_at, id"), &out.Needs},
			{"loans", tx.Table("loan_applications").Where("branch_id = ? AND household_id = ?", b, id).Order("created_at, id"), &out.Loans},
		}
		for _, s := range steps {
			if err := s.q.Scan(s.dest).Error; err != nil {
				return fmt.Errorf("archive: %s: %w", s.what, err)
			}
		}
		return nil
	})
	return out, err
}

// ReportHouseholdNos maps household ids of a branch to their household numbers.
func (db *DB) ReportHouseholdNos(ctx context.Context, branchID string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range reportChunk(ids, 500) {
		var rows []struct{ ID, HouseholdNo string }
		err := db.gorm.WithContext(ctx).Model(&Household{}).Select("id, household_no").
			Where("branch_id = ? AND id IN ?", branchID, part).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("report: household numbers: %w", err)
		}
		for _, r := range rows {
			out[r.ID] = r.HouseholdNo
		}
	}
	return out, nil
}

// ReportMonthState says whether a branch's month has data waiting for a restatement.
func (db *DB) ReportMonthState(ctx context.Context, branchID, month string) (ReportMonth, bool, error) {
	var ms []ReportMonth
	if err := db.gorm.WithContext(ctx).Where("branch_id = ? AND month = ?", branchID, month).Find(&ms).Error; err != nil {
		return ReportMonth{}, false, fmt.Errorf("report: month state: %w", err)
	}
	if len(ms) == 0 {
		return ReportMonth{}, false, nil
	}
	return ms[0], true, nil
}
