package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/doorstep-dev/doorstep/server/demo"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// reportDataDir is an embedded database with the demo bank and one visited
// household in the month before the current one; it returns that month.
func reportDataDir(t *testing.T) (dir, month string) {
	t.Helper()
	dir = isolate(t)
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Now().In(loc)
	at := time.Date(now.Year(), now.Month(), 1, 10, 0, 0, 0, loc).AddDate(0, -1, 0).UTC()
	outlet, _ := db.OrgUnitByCode(ctx, "XS-01")
	officer, _ := db.UserByUsername(ctx, "officer1")
	err = db.Transact(ctx, func(tx *store.Tx) error {
		h := store.Household{ID: store.NewID(), BranchID: outlet.BranchID, CountyID: outlet.ParentID, OutletID: &outlet.ID, OfficerID: &officer.ID,
			HouseholdNo: "CLI-1", HeadName: "户主", IDNumberMasked: "500241********0295", PhoneMasked: "138****1234",
			FieldTimes: "{}", ListStatus: store.ListActive, Version: 1, CreatedAt: at, UpdatedAt: at}
		a := store.Assignment{ID: store.NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OutletID: outlet.ID, OfficerID: &officer.ID, AssignedAt: at}
		v := store.Visit{ID: store.NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OfficerID: officer.ID, OutletID: &outlet.ID,
			Outcome: syncproto.OutcomeVisited, StartedAt: at.Add(time.Hour), VisitedAt: at.Add(time.Hour), ReceivedAt: at.Add(time.Hour),
			Status: syncproto.VisitRecorded, Flags: "[]", FieldTimes: "{}", Version: 1, CreatedAt: at, UpdatedAt: at}
		for _, row := range []any{&h, &a, &v} {
			if err := tx.Create(row).Error; err != nil {
				return err
			}
		}
		tx.RecordChange(store.Change{BranchID: h.BranchID, Entity: syncproto.EntityVisit, EntityID: v.ID, Op: store.OpUpsert, HouseholdID: h.ID})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, at.In(loc).Format("2006-01")
}

func TestReportCommands(t *testing.T) {
	dir, month := reportDataDir(t)
	csvPath := filepath.Join(dir, "r.csv")
	out, _, err := runCmd(t, "", "report", "monthly", "--month", month, "--org", "CQ", "--format", "csv", "--out", csvPath, "--lang", "en")
	if err != nil || !strings.Contains(out, "wrote") {
		t.Fatalf("report monthly csv: %v %s", err, out)
	}
	b, _ := os.ReadFile(csvPath)
	if !bytes.HasPrefix(b, []byte("\xEF\xBB\xBFLevel,")) || !bytes.Contains(b, []byte("branch,CQ,")) {
		t.Fatalf("csv: %.200s", b)
	}
	xlsxPath := filepath.Join(dir, "r.xlsx")
	if _, _, err := runCmd(t, "", "report", "monthly", "--month", month, "--org", "XS", "--format", "xlsx", "--out", xlsxPath); err != nil {
		t.Fatal(err)
	}
	x, err := excelize.OpenFile(xlsxPath)
	if err != nil {
		t.Fatal(err)
	}
	if sheets := x.GetSheetList(); !slices.Contains(sheets, "汇总") || !slices.Contains(sheets, "秀山支行") || slices.Contains(sheets, "巫溪支行") {
		t.Errorf("the county's workbook has sheets %v", sheets)
	}
	x.Close()
	if out, _, err := runCmd(t, "", "report", "rebuild", "--month", month); err != nil || !strings.Contains(out, "rebuilt") {
		t.Fatalf("rebuild: %v %s", err, out)
	}
	if out, _, err := runCmd(t, "", "report", "close", "--month", month, "--org", "CQ"); err != nil || !strings.Contains(out, "version 1, 4 files") {
		t.Fatalf("close: %v %s", err, out)
	}
	if _, _, err := runCmd(t, "", "report", "close", "--month", month, "--org", "CQ"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("second close: %v", err)
	}
	for _, bad := range [][]string{
		{"report", "monthly", "--month", "2026-13", "--org", "CQ", "--out", csvPath},
		{"report", "monthly", "--month", month, "--org", "NOPE", "--out", csvPath},
		{"report", "monthly", "--month", month, "--org", "CQ", "--out", csvPath, "--format", "pdf"},
		{"report", "monthly", "--month", month, "--org", "CQ"},
		{"report", "rebuild"},
	} {
		if _, _, err := runCmd(t, "", bad...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
	for _, help := range [][]string{{"report", "--help"}, {"report", "monthly", "--help"}, {"report", "rebuild", "--help"}, {"report", "close", "--help"}} {
		out, _, _ := runCmd(t, "", help...)
		if !strings.Contains(out, "Usage: doorstep report") {
			t.Errorf("%v printed no usage: %s", help, out)
		}
	}
}
