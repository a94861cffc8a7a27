package demo_test

import (
	"context"
	"testing"

	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/demo"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestSeedOnce(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r1, err := demo.Seed(ctx, db)
		if err != nil || !r1.Seeded {
			t.Fatalf("first seed: %+v %v", r1, err)
		}
		r2, err := demo.Seed(ctx, db)
		if err != nil || r2.Seeded || r2.BranchID != r1.BranchID {
			t.Fatalf("second seed: %+v %v; want no-op on the same branch", r2, err)
		}
		users, err := db.ListUsers(ctx, store.Actor{})
		if err != nil || len(users) != len(demo.Accounts) {
			t.Fatalf("users = %d, %v; want %d", len(users), err, len(demo.Accounts))
		}
		units, _ := db.ListOrgUnits(ctx, store.Actor{})
		counts := map[string]int{}
		for _, u := range units {
			counts[u.Kind]++
		}
		if counts["branch"] != 1 || counts["county"] != 3 || counts["outlet"] != 6 {
			t.Fatalf("org tree = %v; want 1 branch, 3 counties, 6 outlets", counts)
		}
		o1, _ := db.UserByUsername(ctx, "officer1")
		o2, _ := db.UserByUsername(ctx, "officer2")
		o3, _ := db.UserByUsername(ctx, "officer3")
		sup, _ := db.UserByUsername(ctx, "supervisor1")
		if o1.OrgUnitID != o2.OrgUnitID || o1.OrgUnitID != sup.OrgUnitID || o3.OrgUnitID == o1.OrgUnitID {
			t.Fatal("officer1, officer2 and supervisor1 must share an outlet; officer3 must not")
		}
		if ok, _ := auth.VerifyPassword(o1.PasswordHash, demo.Password); !ok {
			t.Fatal("demo password does not verify")
		}
		var p store.LoanProduct
		if err := db.Gorm(ctx).Where("code = ?", "FPXD").Take(&p).Error; err != nil {
			t.Fatal(err)
		}
		if p.MaxAmountFen != 5_000_000 || p.MaxTermMonths != 36 || p.CollateralRequired || !p.GovernmentGuaranteed || p.InterestSubsidy != "full" {
			t.Fatalf("microloan product = %+v", p)
		}
	})
}
