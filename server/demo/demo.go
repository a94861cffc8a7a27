// Package demo seeds a demo bank so that a newcomer can try every feature at
// once: one branch, three county sub-branches with two outlets each, the
// demo accounts, the poverty-alleviation microloan product and the township
// to outlet mapping of the sample monitoring lists.
package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/store"
)

// Password is the password of every demo account.
const Password = "doorstep-demo"

// BranchCode is the demo branch's code; its presence means the demo is seeded.
const BranchCode = "CQ"

// Account is one demo login.
type Account struct {
	Username, Role, Unit, Description string
}

// Accounts are the demo logins, in the order they are printed.
var Accounts = []Account{
	{"admin", store.RoleAdmin, "CQ", "系统管理员 administrator"},
	{"manager1", store.RoleBranchManager, "CQ", "分行经理 branch manager"},
	{"supervisor1", store.RoleSupervisor, "XS-01", "网点主管 supervisor of 秀山中和网点"},
	{"officer1", store.RoleOfficer, "XS-01", "客户经理 loan officer, 秀山中和网点"},
	{"officer2", store.RoleOfficer, "XS-01", "客户经理 loan officer, 秀山中和网点"},
	{"officer3", store.RoleOfficer, "WX-01", "客户经理 loan officer, 巫溪柏杨网点"},
}

var units = []store.NewOrgUnit{
	{Kind: store.KindBranch, Code: "CQ", Name: "重庆分行"},
	{Kind: store.KindCounty, Code: "XS", Name: "秀山支行", ParentCode: "CQ"},
	{Kind: store.KindCounty, Code: "WX", Name: "巫溪支行", ParentCode: "CQ"},
	{Kind: store.KindCounty, Code: "FJ", Name: "奉节支行", ParentCode: "CQ"},
	{Kind: store.KindOutlet, Code: "XS-01", Name: "秀山中和网点", ParentCode: "XS"},
	{Kind: store.KindOutlet, Code: "XS-02", Name: "秀山石耶网点", ParentCode: "XS"},
	{Kind: store.KindOutlet, Code: "WX-01", Name: "巫溪柏杨网点", ParentCode: "WX"},
	{Kind: store.KindOutlet, Code: "WX-02", Name: "巫溪尖山网点", ParentCode: "WX"},
	{Kind: store.KindOutlet, Code: "FJ-01", Name: "奉节永安网点", ParentCode: "FJ"},
	{Kind: store.KindOutlet, Code: "FJ-02", Name: "奉节白帝网点", ParentCode: "FJ"},
}

// County names as the government lists spell them, per county code.
var countyNames = map[string]string{"XS": "秀山土家族苗族自治县", "WX": "巫溪县", "FJ": "奉节县"}

// Township → outlet, for the townships in the sample lists.
var areas = []struct{ County, Township, Outlet string }{
	{"XS", "清溪场街道", "XS-01"}, {"XS", "梅江镇", "XS-01"}, {"XS", "隘口镇", "XS-01"},
	{"XS", "石耶镇", "XS-02"}, {"XS", "龙池镇", "XS-02"},
	{"WX", "宁厂镇", "WX-01"}, {"WX", "文峰镇", "WX-01"},
	{"WX", "尖山镇", "WX-02"}, {"WX", "徐家镇", "WX-02"},
	{"FJ", "永乐镇", "FJ-01"}, {"FJ", "康乐镇", "FJ-01"}, {"FJ", "草堂镇", "FJ-01"},
	{"FJ", "白帝镇", "FJ-02"}, {"FJ", "汾河镇", "FJ-02"},
}

// Result says what Seed did.
type Result struct {
	Seeded   bool // false when the demo already existed
	BranchID string
}

// Seed creates the demo bank once; a second call changes nothing.
func Seed(ctx context.Context, db *store.DB) (Result, error) {
	if b, err := db.OrgUnitByCode(ctx, BranchCode); err == nil {
		return Result{Seeded: false, BranchID: b.ID}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return Result{}, err
	}
	hashes := make([]string, len(Accounts))
	for i := range Accounts {
		h, err := auth.HashPassword(Password)
		if err != nil {
			return Result{}, err
		}
		hashes[i] = h
	}
	var res Result
	err := db.Transact(ctx, func(tx *store.Tx) error {
		ids := map[string]string{}
		for _, n := range units {
			u, err := tx.CreateOrgUnit(n)
			if err != nil {
				return fmt.Errorf("demo org unit %s: %w", n.Code, err)
			}
			ids[n.Code] = u.ID
		}
		res.BranchID = ids[BranchCode]
		for i, a := range Accounts {
			if _, err := tx.CreateUser(store.NewUser{Username: a.Username, DisplayName: a.Description, Role: a.Role, OrgUnitCode: a.Unit, PasswordHash: hashes[i]}); err != nil {
				return fmt.Errorf("demo user %s: %w", a.Username, err)
			}
		}
		now := store.Now()
		for _, ar := range areas {
			sa := store.ServiceArea{BranchID: res.BranchID, County: countyNames[ar.County], Township: ar.Township, Village: "", OutletID: ids[ar.Outlet], CreatedAt: now}
			if err := tx.Create(&sa).Error; err != nil {
				return fmt.Errorf("demo service area: %w", err)
			}
		}
		p := MicroloanProduct(res.BranchID)
		if err := tx.Create(&p).Error; err != nil {
			return fmt.Errorf("demo product: %w", err)
		}
		tx.RecordChange(store.Change{BranchID: res.BranchID, Entity: "loan_product", EntityID: p.ID, Op: store.OpUpsert})
		return tx.Audit(store.Actor{Role: "system"}, "demo.seed", "org_unit", res.BranchID, nil)
	})
	res.Seeded = err == nil
	return res, err
}

// MicroloanProduct is 扶贫小额信贷: at most 50,000 yuan and 36 months, no
// collateral, government-guaranteed, interest fully subsidised.
func MicroloanProduct(branchID string) store.LoanProduct {
	now := store.Now()
	return store.LoanProduct{
		ID: store.NewID(), BranchID: branchID, Code: "FPXD", Name: "扶贫小额信贷",
		MaxAmountFen: 50_000_00, MaxTermMonths: 36, CollateralRequired: false, GovernmentGuaranteed: true,
		InterestSubsidy: "full", Active: true, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
}
