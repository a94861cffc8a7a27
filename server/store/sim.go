package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// Fixtures for the load generator (doorstep sim) and the device client's
// end-to-end tests: synthetic officers and households, written the way the
// registry writes real ones (household, open assignment, change-log rows with
// the scope addition), so that devices receive them through the ordinary pull.

// Sim org units live in their own branch so a load test never touches a
// real branch's households.
const (
	SimBranchCode = "SIM"
	SimCountyCode = "SIM-C"
	SimOutletCode = "SIM-O"
)

// CreateSimHouseholds adds n synthetic households assigned to the officer
// (an active officer at an outlet), numbered <prefix>-NNNN after the
// branch's existing households with that prefix. It returns their ids.
func (db *DB) CreateSimHouseholds(ctx context.Context, officerUsername, prefix string, n int) ([]string, error) {
	var ids []string
	err := db.Transact(ctx, func(tx *Tx) error {
		var err error
		ids, err = tx.createSimHouseholds(officerUsername, prefix, n)
		return err
	})
	return ids, err
}

func (tx *Tx) createSimHouseholds(officerUsername, prefix string, n int) ([]string, error) {
	var u User
	if err := tx.Where("username = ?", officerUsername).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("sim households: officer %q: %w", officerUsername, err)
	}
	if u.Role != RoleOfficer {
		return nil, invalidf("sim households: %q is not an officer", officerUsername)
	}
	var outlet OrgUnit
	if err := tx.Where("id = ?", u.OrgUnitID).Take(&outlet).Error; err != nil {
		return nil, fmt.Errorf("sim households: outlet: %w", err)
	}
	// Numbered after every household of the branch with the prefix, so
	// several officers may share one prefix.
	var have int64
	if err := tx.Model(&Household{}).Where("branch_id = ? AND household_no LIKE ?", u.BranchID, prefix+"-%").Count(&have).Error; err != nil {
		return nil, fmt.Errorf("sim households: %w", err)
	}
	now := Now()
	hs := make([]Household, n)
	as := make([]Assignment, n)
	ids := make([]string, n)
	for i := range hs {
		id := NewID()
		ids[i] = id
		no := int(have) + i + 1
		hs[i] = Household{
			ID: id, BranchID: u.BranchID, CountyID: outlet.ParentID, OutletID: &outlet.ID, OfficerID: &u.ID,
			HouseholdNo: fmt.Sprintf("%s-%04d", prefix, no), HeadName: fmt.Sprintf("模拟户主%04d", no),
			Province: "重庆市", City: "重庆市", County: "模拟县", Township: "模拟镇", Village: fmt.Sprintf("第%d村", no%7+1),
			FamilySize: 1 + no%6, Category: "脱贫不稳定户", RiskType: "因病", HasLabor: no%2 == 0,
			FieldTimes: "{}", ListStatus: ListActive, Version: 1, CreatedAt: now, UpdatedAt: now,
		}
		as[i] = Assignment{ID: NewID(), BranchID: u.BranchID, HouseholdID: id, OutletID: outlet.ID, OfficerID: &u.ID, AssignedAt: now}
	}
	if n == 0 {
		return ids, nil
	}
	if err := tx.CreateInBatches(hs, 500).Error; err != nil {
		return nil, fmt.Errorf("sim households: %w", err)
	}
	if err := tx.CreateInBatches(as, 500).Error; err != nil {
		return nil, fmt.Errorf("sim assignments: %w", err)
	}
	for _, h := range hs {
		tx.RecordChange(Change{BranchID: h.BranchID, Entity: syncproto.EntityHousehold, EntityID: h.ID, Op: OpUpsert, HouseholdID: h.ID})
		tx.RecordChange(Change{BranchID: h.BranchID, Entity: syncproto.EntityHousehold, EntityID: h.ID, Op: OpScopeAdd, HouseholdID: h.ID, AudienceUserID: u.ID})
	}
	return ids, nil
}

// SimProvision asks for officers sim-officer-0001.. at the sim outlet, each
// with HouseholdsPerOfficer households.
type SimProvision struct {
	Prefix               string // username prefix, e.g. "sim-officer-"
	Officers             int
	HouseholdsPerOfficer int
	PasswordHash         string
	// ResetPasswords sets PasswordHash on officers that already exist (which
	// ends their sessions); otherwise existing officers keep theirs.
	ResetPasswords bool
}

// SimProvisioned says what ProvisionSim did.
type SimProvisioned struct {
	Usernames          []string
	CreatedOfficers    int
	CreatedHouseholds  int
	ExistingHouseholds int
}

// ProvisionSim creates, once, the sim branch, county and outlet, the
// officers and their households. Running it again tops up what is missing.
func (db *DB) ProvisionSim(ctx context.Context, p SimProvision) (SimProvisioned, error) {
	var res SimProvisioned
	if p.Officers <= 0 || p.HouseholdsPerOfficer < 0 || p.PasswordHash == "" {
		return res, invalidf("sim provision: officers > 0, households >= 0 and a password are required")
	}
	if err := db.Transact(ctx, func(tx *Tx) error {
		for _, u := range []NewOrgUnit{
			{Kind: KindBranch, Code: SimBranchCode, Name: "模拟分行 (doorstep sim)"},
			{Kind: KindCounty, Code: SimCountyCode, Name: "模拟支行", ParentCode: SimBranchCode},
			{Kind: KindOutlet, Code: SimOutletCode, Name: "模拟网点", ParentCode: SimCountyCode},
		} {
			var n int64
			if err := tx.Model(&OrgUnit{}).Where("code = ?", u.Code).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			if _, err := tx.CreateOrgUnit(u); err != nil {
				return err
			}
		}
		// The poverty-alleviation microloan, so sim devices can start loans.
		var branch OrgUnit
		if err := tx.Where("code = ?", SimBranchCode).Take(&branch).Error; err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&LoanProduct{}).Where("branch_id = ? AND code = ?", branch.ID, "FPXD").Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			now := Now()
			p := LoanProduct{ID: NewID(), BranchID: branch.ID, Code: "FPXD", Name: "扶贫小额信贷", MaxAmountFen: 50_000_00,
				MaxTermMonths: 36, GovernmentGuaranteed: true, InterestSubsidy: "full", Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&p).Error; err != nil {
				return err
			}
			tx.RecordChange(Change{BranchID: branch.ID, Entity: syncproto.EntityLoanProduct, EntityID: p.ID, Op: OpUpsert})
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("sim org units: %w", err)
	}
	// Fifty officers per transaction keeps each short; a rerun tops up.
	const perTx = 50
	for lo := 1; lo <= p.Officers; lo += perTx {
		hi := min(lo+perTx-1, p.Officers)
		var created, createdHH, existing int
		err := db.Transact(ctx, func(tx *Tx) error {
			created, createdHH, existing = 0, 0, 0 // a retried transaction counts afresh
			for i := lo; i <= hi; i++ {
				name := fmt.Sprintf("%s%04d", p.Prefix, i)
				var u User
				err := tx.Where("username = ?", name).Take(&u).Error
				switch {
				case err == nil:
					if u.Role != RoleOfficer {
						return invalidf("sim provision: %q exists and is not an officer", name)
					}
					if p.ResetPasswords {
						if _, err := tx.SetPasswordHash(name, p.PasswordHash); err != nil {
							return err
						}
					}
				case errors.Is(err, gorm.ErrRecordNotFound):
					if u, err = tx.CreateUser(NewUser{Username: name, DisplayName: "模拟客户经理 " + name, Role: RoleOfficer,
						OrgUnitCode: SimOutletCode, PasswordHash: p.PasswordHash}); err != nil {
						return err
					}
					created++
				default:
					return err
				}
				var have int64
				if err := tx.Model(&Household{}).Where("branch_id = ? AND officer_id = ?", u.BranchID, u.ID).Count(&have).Error; err != nil {
					return err
				}
				existing += int(have)
				if missing := p.HouseholdsPerOfficer - int(have); missing > 0 {
					if _, err := tx.createSimHouseholds(name, fmt.Sprintf("SIM%04d", i), missing); err != nil {
						return err
					}
					createdHH += missing
				}
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("sim officers %d-%d: %w", lo, hi, err)
		}
		for i := lo; i <= hi; i++ {
			res.Usernames = append(res.Usernames, fmt.Sprintf("%s%04d", p.Prefix, i))
		}
		res.CreatedOfficers += created
		res.CreatedHouseholds += createdHH
		res.ExistingHouseholds += existing
	}
	if err := db.RefreshStatistics(ctx, "users", "households", "assignments"); err != nil {
		return res, fmt.Errorf("sim provision: %w", err)
	}
	return res, nil
}
