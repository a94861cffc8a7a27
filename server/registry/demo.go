package registry

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// DemoOptions says where the demo households go.
type DemoOptions struct {
	BranchCode string // default "CQ"
	Households int    // default 500
	// Officers by outlet code: the households of each outlet are shared
	// among its officers. Default: officer1 and officer2 at XS-01, officer3
	// at WX-01.
	Officers map[string][]string
	// VisitedShare of the assigned households already have a visit this
	// month (default 0.3).
	VisitedShare float64
	Seed         uint64 // randomness; the same seed gives the same list
	Now          func() time.Time
	Location     *time.Location
}

// DemoResult says what SeedDemoHouseholds did.
type DemoResult struct {
	Seeded     bool // false when the branch already had households
	Households int
	Assigned   int
	Visits     int
	Plans      int
}

// Area codes of the demo counties, for fictitious ID numbers.
var demoCountyCodes = map[string]string{"秀山土家族苗族自治县": "500241", "巫溪县": "500238", "奉节县": "500236"}

var (
	demoVillages = []string{"青山村", "中心村", "双河村", "红岩村", "新华村", "金竹村", "龙潭村", "石门村", "桂花村", "向阳村"}
	demoSurnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐冉彭田向")
	demoGiven    = []string{"国华", "春梅", "建军", "秀英", "德明", "桂兰", "永富", "玉珍", "大勇", "小红", "成林", "明芳", "志强", "淑珍", "光荣"}
)

// SeedDemoHouseholds gives the demo bank a synthetic monitoring list: about
// 500 households in the demo counties (秀山, 巫溪, 奉节), with valid but
// fictitious ID numbers, imported through the ordinary import so that they
// are mapped to outlets, sealed and versioned like a real list; then handed
// to the demo officers with a deadline at the end of the month, with some
// visits already made and some visit plans, one of them overdue. It does
// nothing when the branch already has households.
func SeedDemoHouseholds(ctx context.Context, db *store.DB, sec *secrets.Secrets, o DemoOptions) (DemoResult, error) {
	if o.BranchCode == "" {
		o.BranchCode = "CQ"
	}
	if o.Households <= 0 {
		o.Households = 500
	}
	if o.Officers == nil {
		o.Officers = map[string][]string{"XS-01": {"officer1", "officer2"}, "WX-01": {"officer3"}}
	}
	if o.VisitedShare == 0 {
		o.VisitedShare = 0.3
	}
	if o.Seed == 0 {
		o.Seed = 20261101
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	svc := New(db, sec, Options{Now: o.Now, Location: o.Location})
	sys := store.Actor{Role: store.RoleAdmin, Username: "demo", RequestID: "demo-seed"}
	branch, err := db.ResolveBranch(ctx, sys, o.BranchCode)
	if err != nil {
		return DemoResult{}, fmt.Errorf("demo households: %w", err)
	}
	sys.BranchID = branch.ID
	var n int64
	if err := db.Gorm(ctx).Raw(`SELECT COUNT(*) FROM households WHERE branch_id = ?`, branch.ID).Scan(&n).Error; err != nil {
		return DemoResult{}, fmt.Errorf("demo households: %w", err)
	}
	if n > 0 {
		return DemoResult{}, nil
	}
	areas, err := db.AreaMappings(ctx, branch.ID)
	if err != nil {
		return DemoResult{}, err
	}
	var townships []store.AreaMapping
	for _, a := range areas {
		if _, ok := demoCountyCodes[a.County]; ok && a.Village == "" {
			townships = append(townships, a)
		}
	}
	if len(townships) == 0 {
		return DemoResult{}, fmt.Errorf("demo households: branch %s maps no township of the demo counties to an outlet", o.BranchCode)
	}
	rnd := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	list, err := demoList(rnd, townships, o.Households, svc.opts.Now().In(svc.opts.Location))
	if err != nil {
		return DemoResult{}, err
	}
	d, err := svc.Compute(ctx, sys, ImportInput{Branch: branch.ID, FileName: "demo-monitoring-list.csv", Data: bytes.NewReader(list)})
	if err != nil {
		return DemoResult{}, fmt.Errorf("demo households: %w", err)
	}
	if !d.Committable() {
		return DemoResult{}, fmt.Errorf("demo households: generated list has %d errors", d.Summary.Errors)
	}
	if _, _, err := svc.Apply(ctx, sys, d); err != nil {
		return DemoResult{}, fmt.Errorf("demo households: %w", err)
	}
	res := DemoResult{Seeded: true, Households: d.Summary.New}

	now := svc.opts.Now().In(svc.opts.Location)
	endOfMonth := time.Date(now.Year(), now.Month()+1, 0, 0, 0, 0, 0, svc.opts.Location).Format(time.DateOnly)
	outlets := make([]string, 0, len(o.Officers))
	for code := range o.Officers {
		outlets = append(outlets, code)
	}
	sort.Strings(outlets)
	type held struct {
		household string
		officer   store.User
	}
	var work []held
	for _, code := range outlets {
		unit, err := db.OrgUnitByCode(ctx, code)
		if err != nil {
			return res, fmt.Errorf("demo households: outlet %s: %w", code, err)
		}
		var officers []store.User
		for _, name := range o.Officers[code] {
			u, err := db.UserByUsername(ctx, name)
			if err != nil {
				return res, fmt.Errorf("demo households: officer %s: %w", name, err)
			}
			officers = append(officers, u)
		}
		var ids []string
		if err := db.Gorm(ctx).Raw(`SELECT id FROM households WHERE branch_id = ? AND outlet_id = ? ORDER BY village, household_no`,
			branch.ID, unit.ID).Scan(&ids).Error; err != nil {
			return res, err
		}
		// Whole villages go to one officer, as supervisors hand them out.
		per := (len(ids) + len(officers) - 1) / max(1, len(officers))
		for i, u := range officers {
			part := ids[min(len(ids), i*per):min(len(ids), (i+1)*per)]
			if len(part) == 0 {
				continue
			}
			r, err := svc.Assign(ctx, sys, AssignInput{HouseholdIDs: part, OfficerID: u.ID, DueOn: endOfMonth})
			if err != nil {
				return res, fmt.Errorf("demo households: assign to %s: %w", u.Username, err)
			}
			res.Assigned += r.Assigned
			for _, id := range part {
				work = append(work, held{id, u})
			}
		}
	}

	// Visits already made this month, and a few plans.
	monthStart := time.Date(now.Year(), now.Month(), 1, 9, 0, 0, 0, svc.opts.Location)
	days := max(1, int(now.Sub(monthStart).Hours()/24))
	err = db.Transact(ctx, func(tx *store.Tx) error {
		res.Visits, res.Plans = 0, 0
		for i, w := range work {
			if rnd.Float64() >= o.VisitedShare {
				if i%9 == 0 {
					planned := now.AddDate(0, 0, 1+rnd.IntN(7))
					if i%27 == 0 {
						planned = now.AddDate(0, 0, -2) // overdue
					}
					if err := demoPlan(tx, branch.ID, w.household, w.officer, planned.Format(time.DateOnly)); err != nil {
						return err
					}
					res.Plans++
				}
				continue
			}
			at := monthStart.Add(time.Duration(rnd.IntN(days*24)) * time.Hour)
			if at.After(now) {
				at = now.Add(-time.Hour)
			}
			if err := demoVisit(tx, branch.ID, w.household, w.officer, at.UTC().Truncate(time.Microsecond), rnd); err != nil {
				return err
			}
			res.Visits++
		}
		return nil
	})
	return res, err
}

// demoList writes the synthetic list as a county office would send it.
func demoList(rnd *rand.Rand, townships []store.AreaMapping, n int, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(importfile.Columns)
	seq := map[string]int{}
	for i := range n {
		a := townships[i%len(townships)]
		code := demoCountyCodes[a.County]
		seq[code]++
		village := demoVillages[rnd.IntN(len(demoVillages))]
		birth := time.Date(1940+rnd.IntN(55), time.Month(1+rnd.IntN(12)), 1+rnd.IntN(28), 0, 0, 0, 0, time.UTC)
		first17 := fmt.Sprintf("%s%s%03d", code, birth.Format("20060102"), 100+rnd.IntN(900))
		check, err := importfile.IDCheckDigit(first17)
		if err != nil {
			return nil, err
		}
		name := string(demoSurnames[rnd.IntN(len(demoSurnames))]) + demoGiven[rnd.IntN(len(demoGiven))]
		identified := now.AddDate(-1-rnd.IntN(4), -rnd.IntN(12), -rnd.IntN(28))
		labor, risk := "是", "未消除"
		if rnd.IntN(4) == 0 {
			labor = "否"
		}
		if rnd.IntN(10) == 0 {
			risk = "已消除"
		}
		w.Write([]string{
			"重庆市", "重庆市", a.County, a.Township, village,
			fmt.Sprintf("%s9%07d", code, seq[code]), name, first17 + string(check),
			fmt.Sprint(1 + rnd.IntN(7)), importfile.Categories[rnd.IntN(len(importfile.Categories))],
			importfile.RiskTypes[rnd.IntN(len(importfile.RiskTypes))], labor,
			fmt.Sprintf("1%d%d%08d", 3+rnd.IntN(6), rnd.IntN(10), rnd.IntN(100_000_000)),
			identified.Format(time.DateOnly), risk,
		})
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

var demoSituations = []string{"家中老人慢性病，需长期服药", "种植柑橘两亩，今年收成一般", "儿子外出务工，收入不稳定", "计划扩大生猪养殖，需要资金", "房屋已完成危房改造"}

func demoVisit(tx *store.Tx, branchID, householdID string, officer store.User, at time.Time, rnd *rand.Rand) error {
	now := store.Now()
	outlet := officer.OrgUnitID
	v := store.Visit{
		ID: store.NewID(), BranchID: branchID, HouseholdID: householdID, OfficerID: officer.ID, OutletID: &outlet,
		Outcome: syncproto.OutcomeVisited, Situation: demoSituations[rnd.IntN(len(demoSituations))], StartedAt: at,
		VisitedAt: at, ReceivedAt: at.Add(2 * time.Hour), Status: syncproto.VisitRecorded, Flags: "[]",
		FieldTimes: store.FieldTimes{store.FieldTimesAll: store.FieldStamp{T: at, V: 1}}.String(),
		Version:    1, CreatedAt: now, UpdatedAt: now,
	}
	end := at.Add(25 * time.Minute)
	v.EndedAt = &end
	if err := tx.Create(&v).Error; err != nil {
		return fmt.Errorf("demo visit: %w", err)
	}
	tx.RecordChange(store.Change{BranchID: branchID, Entity: syncproto.EntityVisit, EntityID: v.ID, Op: store.OpUpsert, HouseholdID: householdID})
	return nil
}

func demoPlan(tx *store.Tx, branchID, householdID string, officer store.User, on string) error {
	now := store.Now()
	p := store.VisitPlan{
		ID: store.NewID(), BranchID: branchID, HouseholdID: householdID, OfficerID: officer.ID, PlannedOn: on,
		Notes: "入户核实家庭收入和融资需求", Status: syncproto.PlanPlanned, CreatedBy: officer.ID,
		FieldTimes: store.FieldTimes{store.FieldTimesAll: store.FieldStamp{T: now, V: 1}}.String(),
		Version:    1, CreatedAt: now, UpdatedAt: now,
	}
	if err := tx.Create(&p).Error; err != nil {
		return fmt.Errorf("demo plan: %w", err)
	}
	tx.RecordChange(store.Change{BranchID: branchID, Entity: syncproto.EntityVisitPlan, EntityID: p.ID, Op: store.OpUpsert, HouseholdID: householdID})
	return nil
}
