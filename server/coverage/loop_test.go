package coverage_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
	"github.com/doorstep-dev/doorstep/syncproto/client"
)

// The verification loop end to end, through the real server and the
// reference device client: an officer's phone records a visit offline and
// syncs; it arrives flagged; the supervisor marks it has_issues; the phone's
// next sync delivers the task and the visit's new status; the officer
// corrects the visit; the supervisor sees the correction, confirms it, and
// the task is done and leaves the phone at its next sync. The ledger follows
// along: the visit stops counting while disputed and counts again once
// confirmed.
func TestVerificationLoopEndToEnd(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		hh, err := env.DB.CreateSimHouseholds(ctx, testenv.Officer1, "LOOP", 2)
		if err != nil {
			t.Fatal(err)
		}
		phone, err := client.Open(ctx, t.TempDir(), client.Options{BaseURL: env.URL, AppVersion: "2.3.0-loop", BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond, MaxAttempts: 5})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { phone.Close() })
		if _, err := phone.Login(ctx, testenv.Officer1, testenv.Password, "officer1 phone"); err != nil {
			t.Fatal(err)
		}
		sync := func() client.SyncReport {
			t.Helper()
			rep, err := phone.Sync(ctx)
			if err != nil {
				t.Fatalf("sync: %v (%+v)", err, rep)
			}
			return rep
		}
		sync()

		// No GPS fix, and a visit of one minute: two flags.
		start := time.Now().Add(-time.Hour).UTC()
		end := start.Add(time.Minute)
		vid, err := phone.CreateVisit(ctx, client.VisitInput{HouseholdID: hh[0], Outcome: syncproto.OutcomeVisited, Situation: "家里有人", StartedAt: start, EndedAt: &end})
		if err != nil {
			t.Fatal(err)
		}
		if rep := sync(); rep.Accepted != 1 {
			t.Fatalf("push: %+v", rep)
		}

		sup := env.Login(t, testenv.Supervisor1, testenv.Password, "supervisor laptop").AccessToken
		var page coverage.ReviewPage
		decode(t, env.DoStatus(t, http.StatusOK, "GET", "/api/v1/visits/review?status=flagged", sup, nil), &page)
		if len(page.Visits) != 1 || page.Visits[0].ID != vid {
			t.Fatalf("flagged queue: %+v", page.Visits)
		}
		codes := map[string]bool{}
		for _, f := range page.Visits[0].Flags {
			codes[f.Code] = true
			if f.Evidence == nil {
				t.Fatalf("flag %s without evidence", f.Code)
			}
		}
		if !codes[coverage.FlagGPSMissing] || !codes[coverage.FlagTooShort] || codes[coverage.FlagUnregisteredDevice] {
			t.Fatalf("flags %v", page.Visits[0].Flags)
		}
		month := coverage.MonthOf(time.Now(), env.Config.Location()).String()
		if got := ledgerOutcome(t, env, sup, month, hh[0]); got != coverage.OutcomeVisited {
			t.Fatalf("before review the household is %s", got)
		}

		// The supervisor wants it corrected.
		var res coverage.ReviewResult
		decode(t, env.DoStatus(t, http.StatusOK, "POST", "/api/v1/visits/"+vid+"/issues", sup,
			map[string]any{"kind": "correct", "reason": "请补充情况描述和定位"}), &res)
		if res.Task == nil || res.Visit.Status != syncproto.VisitHasIssues {
			t.Fatalf("has issues: %+v", res)
		}
		if got := ledgerOutcome(t, env, sup, month, hh[0]); got != coverage.OutcomeMissing {
			t.Fatalf("while disputed the household is %s", got)
		}

		// The phone's next sync brings the task and the visit's status.
		sync()
		tasks, err := phone.Tasks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) != 1 || tasks[0].ID != res.Task.ID || tasks[0].Kind != syncproto.TaskCorrect || tasks[0].Status != syncproto.TaskOpen || tasks[0].Reason != "请补充情况描述和定位" {
			t.Fatalf("tasks on the phone: %+v", tasks)
		}
		v, ok, err := phone.Visit(ctx, vid)
		if err != nil || !ok || v.Status != syncproto.VisitHasIssues || v.ReviewNote != "请补充情况描述和定位" {
			t.Fatalf("visit on the phone: %+v %v %v", v, ok, err)
		}

		// The officer corrects the visit.
		lat, lng, acc := 28.45, 108.99, 15.0
		situation := "家里有人，养猪 3 头，需要饲料款"
		if err := phone.UpdateVisit(ctx, vid, client.VisitPatch{Situation: &situation, Lat: &lat, Lng: &lng, AccuracyM: &acc}); err != nil {
			t.Fatal(err)
		}
		sync()
		decode(t, env.DoStatus(t, http.StatusOK, "GET", "/api/v1/visits/review?status=corrected", sup, nil), &page)
		if len(page.Visits) != 1 || page.Visits[0].ID != vid || page.Visits[0].Situation != situation || page.Visits[0].OpenTaskID != res.Task.ID {
			t.Fatalf("corrected queue: %+v", page.Visits)
		}
		for _, f := range page.Visits[0].Flags {
			if f.Code == coverage.FlagGPSMissing {
				t.Fatalf("the corrected visit still has %s", f.Code)
			}
		}

		// The supervisor confirms: the task is done, the loop closed.
		decode(t, env.DoStatus(t, http.StatusOK, "POST", "/api/v1/visits/"+vid+"/confirm", sup, map[string]any{"note": "已电话核实"}), &res)
		if res.Visit.Status != syncproto.VisitConfirmed || len(res.ClosedTasks) != 1 || res.ClosedTasks[0].ID != tasks[0].ID {
			t.Fatalf("confirm: %+v", res)
		}
		if got := ledgerOutcome(t, env, sup, month, hh[0]); got != coverage.OutcomeVisited {
			t.Fatalf("after confirmation the household is %s", got)
		}
		var task store.Task
		if err := env.DB.Gorm(ctx).Where("id = ?", res.ClosedTasks[0].ID).Take(&task).Error; err != nil || task.Status != syncproto.TaskDone {
			t.Fatalf("task after confirmation: %+v %v", task, err)
		}
		// The sync engine drops closed tasks from the device.
		sync()
		if tasks, _ = phone.Tasks(ctx); len(tasks) != 0 {
			t.Fatalf("the done task is still on the phone: %+v", tasks)
		}
		if v, _, _ := phone.Visit(ctx, vid); v.Status != syncproto.VisitConfirmed {
			t.Fatalf("visit on the phone after confirmation: %s", v.Status)
		}

		// A confirmed visit can no longer be edited from the device.
		notes := "改"
		if err := phone.UpdateVisit(ctx, vid, client.VisitPatch{Notes: &notes}); err != nil {
			t.Fatal(err)
		}
		if rep := sync(); rep.Rejected != 1 {
			t.Fatalf("edit of a confirmed visit: %+v", rep)
		}

		// Every step is in the audit log.
		for _, action := range []string{"visit.flags", "visit.has_issues", "visit.correction_received", "visit.confirm"} {
			var n int64
			env.DB.Gorm(ctx).Model(&store.AuditEntry{}).Where("action = ? AND target_id = ?", action, vid).Count(&n)
			if n == 0 {
				t.Errorf("no %s in the audit log", action)
			}
		}

		// Device health shows the phone's last sync.
		var dh coverage.DeviceHealth
		decode(t, env.DoStatus(t, http.StatusOK, "GET", "/api/v1/coverage/device-health", sup, nil), &dh)
		found := false
		for _, o := range dh.Officers {
			if o.Username == testenv.Officer1 {
				found = o.LastSyncAt != nil && len(o.Devices) == 1 && o.Devices[0].AppVersion == "2.3.0-loop" && !o.NeverSynced
			}
		}
		if !found {
			t.Fatalf("device health: %+v", dh.Officers)
		}
	}, testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" }))
}

func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

func ledgerOutcome(t *testing.T, env *testenv.Env, tok, month, householdID string) coverage.Outcome {
	t.Helper()
	var l coverage.Ledger
	decode(t, env.DoStatus(t, http.StatusOK, "GET", "/api/v1/coverage/ledger?month="+month, tok, nil), &l)
	for _, r := range l.Households {
		if r.HouseholdID == householdID {
			return r.Outcome
		}
	}
	t.Fatalf("household %s not in the ledger", householdID)
	return ""
}
