package testenv

import (
	"context"
	"errors"
	"fmt"

	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/demo"
	"github.com/doorstep-dev/doorstep/server/store"
)

// Password is the password of every seeded account.
const Password = demo.Password

// The seeded accounts. The demo bank (重庆分行, code CQ):
//
//	admin        admin, at the branch
//	manager1     branch manager of CQ
//	supervisor1  supervisor of outlet XS-01 (秀山中和网点)
//	officer1     officer at XS-01
//	officer2     officer at XS-01 (same outlet as officer1)
//	officer3     officer at WX-01 (巫溪柏杨网点, another county)
//
// A second branch (湖北分行, code HB) for "other branch" cases:
//
//	hb_manager     branch manager of HB
//	hb_supervisor  supervisor of outlet HB-ES-01
//	hb_officer     officer at HB-ES-01
const (
	Admin       = "admin"
	Manager1    = "manager1"
	Supervisor1 = "supervisor1"
	Officer1    = "officer1"
	Officer2    = "officer2"
	Officer3    = "officer3"

	OtherBranchManager    = "hb_manager"
	OtherBranchSupervisor = "hb_supervisor"
	OtherBranchOfficer    = "hb_officer"
)

// Org unit codes of the fixtures.
const (
	BranchCode           = demo.BranchCode // CQ
	Officer1Outlet       = "XS-01"
	Officer3Outlet       = "WX-01"
	OtherBranchCode      = "HB"
	OtherBranchCounty    = "HB-ES"
	OtherBranchOutlet    = "HB-ES-01"
	OtherBranchOutletAlt = "HB-ES-02"
)

var otherBranchUnits = []store.NewOrgUnit{
	{Kind: store.KindBranch, Code: OtherBranchCode, Name: "湖北分行"},
	{Kind: store.KindCounty, Code: OtherBranchCounty, Name: "恩施支行", ParentCode: OtherBranchCode},
	{Kind: store.KindOutlet, Code: OtherBranchOutlet, Name: "恩施龙凤网点", ParentCode: OtherBranchCounty},
	{Kind: store.KindOutlet, Code: OtherBranchOutletAlt, Name: "恩施白杨坪网点", ParentCode: OtherBranchCounty},
}

var otherBranchUsers = []struct{ Username, Role, Unit string }{
	{OtherBranchManager, store.RoleBranchManager, OtherBranchCode},
	{OtherBranchSupervisor, store.RoleSupervisor, OtherBranchOutlet},
	{OtherBranchOfficer, store.RoleOfficer, OtherBranchOutlet},
}

// Seed creates the demo bank and the second branch, once. Tests that work
// below HTTP (store, services) call it directly.
func Seed(ctx context.Context, db *store.DB) error {
	if _, err := demo.Seed(ctx, db); err != nil {
		return fmt.Errorf("demo bank: %w", err)
	}
	return seedOtherBranch(ctx, db)
}

func seedOtherBranch(ctx context.Context, db *store.DB) error {
	if _, err := db.OrgUnitByCode(ctx, OtherBranchCode); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	hash, err := auth.HashPassword(Password)
	if err != nil {
		return err
	}
	return db.Transact(ctx, func(tx *store.Tx) error {
		for _, n := range otherBranchUnits {
			if _, err := tx.CreateOrgUnit(n); err != nil {
				return fmt.Errorf("org unit %s: %w", n.Code, err)
			}
		}
		for _, u := range otherBranchUsers {
			if _, err := tx.CreateUser(store.NewUser{Username: u.Username, DisplayName: u.Username, Role: u.Role, OrgUnitCode: u.Unit, PasswordHash: hash}); err != nil {
				return fmt.Errorf("user %s: %w", u.Username, err)
			}
		}
		return nil
	})
}
