package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Authorization matrix rows for the staff endpoints of the sync work. (Push
// and pull are officers' only; TestSyncEndpoints covers who else is refused.)

// freshLoan is a submitted loan application on a fresh household of the
// owner's officer.
func freshLoan(t *testing.T, m *matrix, actor, owner string) string {
	t.Helper()
	ctx := context.Background()
	hid := freshHousehold(t, m, actor, owner)
	off := m.env.User(t, officerOf(t, m, owner))
	now := store.Now()
	l := store.LoanApplication{ID: store.NewID(), BranchID: off.BranchID, HouseholdID: hid, OfficerID: off.ID,
		AmountFen: 1_000_000, TermMonths: 12, Status: syncproto.LoanSubmitted, SubmittedAt: &now, FieldTimes: "{}",
		Version: 1, CreatedAt: now, UpdatedAt: now}
	err := m.env.DB.Transact(ctx, func(tx *store.Tx) error {
		var p store.LoanProduct
		if err := tx.Where("branch_id = ? AND code = ?", off.BranchID, "FPXD").Take(&p).Error; err != nil {
			p = store.LoanProduct{ID: store.NewID(), BranchID: off.BranchID, Code: "FPXD", Name: "扶贫小额信贷", MaxAmountFen: 5_000_000,
				MaxTermMonths: 36, InterestSubsidy: "full", Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
			if err := tx.SaveLoanProduct(p); err != nil {
				return err
			}
		}
		l.ProductID = p.ID
		return tx.Create(&l).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	return l.ID
}

// freshRejection is a rejection in the conflict log of the owner's
// officer, on one of their households.
func freshRejection(t *testing.T, m *matrix, actor, owner string) string {
	t.Helper()
	hid := freshHousehold(t, m, actor, owner)
	off := m.env.User(t, officerOf(t, m, owner))
	var h store.Household
	if err := m.env.DB.Gorm(context.Background()).Where("id = ?", hid).Take(&h).Error; err != nil {
		t.Fatal(err)
	}
	value := `{"notes":"x"}`
	c := store.Conflict{ID: store.NewID(), BranchID: off.BranchID, Kind: store.ConflictRejection, UserID: off.ID, DeviceID: "d",
		MutationID: store.NewID(), Entity: syncproto.EntityVisit, EntityID: store.NewID(), HouseholdID: &hid, OutletID: h.OutletID,
		Field: "notes", Rule: "validation", Code: syncproto.RejectInvalidField, Message: "矩阵", DeviceValue: &value, Winner: "server",
		CreatedAt: store.Now()}
	if err := m.env.DB.Transact(context.Background(), func(tx *store.Tx) error { return tx.InsertConflicts([]store.Conflict{c}) }); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

var _ = addMatrixRows(
	matrixRow{name: "list conflicts", method: "GET", path: "/api/v1/conflicts?kind=rejection", target: freshRejection,
		want: map[string]outcomes{
			roleOfficer:    all(403),
			roleSupervisor: {Seen, Seen, Hidden, Hidden},
			roleManager:    {Seen, Seen, Seen, Hidden},
			roleAdmin:      all(Seen),
		}},
	matrixRow{name: "decide a loan", method: "POST", path: "/api/v1/loans/{id}/decision", target: freshLoan,
		body: func(string) any { return map[string]string{"status": syncproto.LoanUnderReview, "note": "受理"} },
		want: map[string]outcomes{
			roleOfficer:    all(403),
			roleSupervisor: {200, 200, 404, 404},
			roleManager:    {200, 200, 200, 404},
			roleAdmin:      all(403),
		},
		check: func(t *testing.T, m *matrix, id string, status int) {
			var l store.LoanApplication
			if err := m.env.DB.Gorm(context.Background()).Where("id = ?", id).Take(&l).Error; err != nil {
				t.Fatal(err)
			}
			want := syncproto.LoanSubmitted
			if status == http.StatusOK {
				want = syncproto.LoanUnderReview
			}
			if l.Status != want {
				t.Fatalf("after %d the loan is %s, want %s", status, l.Status, want)
			}
		}},
)
