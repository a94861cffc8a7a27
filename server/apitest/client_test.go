package apitest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/apitest"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
	"github.com/doorstep-dev/doorstep/syncproto/client"
)

// The reference device client, with every request it makes checked against
// openapi.yaml: sign-in, a full first sync, edits made offline (a visit with
// a long note, so the push goes out gzipped, a need, a loan application and
// a household observation), sync, a forced digest, sign-out.
func TestContractReferenceClient(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		hh, err := env.DB.CreateSimHouseholds(ctx, testenv.Officer1, "RC", 5)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Open(ctx, t.TempDir(), client.Options{
			BaseURL:     env.URL,
			HTTP:        &http.Client{Timeout: time.Minute, Transport: apitest.Transport(t, nil)},
			AppVersion:  "contract-1",
			PageLimit:   2, // several pages
			BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Login(ctx, testenv.Officer1, testenv.Password, "contract phone"); err != nil {
			t.Fatal(err)
		}
		rep, err := c.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Pages < 2 {
			t.Fatalf("first sync in %d pages, want several", rep.Pages)
		}
		got, err := c.Households(ctx)
		if err != nil || len(got) != len(hh) {
			t.Fatalf("households on the device: %d (%v), want %d", len(got), err, len(hh))
		}

		visit, err := c.CreateVisit(ctx, client.VisitInput{HouseholdID: hh[0], Outcome: syncproto.OutcomeVisited,
			Situation: "务工收入稳定", Notes: strings.Repeat("户主在家，家中养猪三头。", 200)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateNeed(ctx, client.NeedInput{HouseholdID: hh[0], VisitID: visit, Purpose: "购买仔猪", AmountFen: 1_000_000}); err != nil {
			t.Fatal(err)
		}
		labor := true
		if err := c.UpdateHousehold(ctx, hh[1], client.HouseholdPatch{HasLabor: &labor}); err != nil {
			t.Fatal(err)
		}
		rep, err = c.SyncWith(ctx, client.SyncOptions{Digest: true})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Accepted != 3 || rep.Rejected != 0 || !rep.DigestSent || rep.Diverged {
			t.Fatalf("second sync: %+v", rep)
		}
		if err := c.Logout(ctx); err != nil {
			t.Fatal(err)
		}
	}, testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" }))
}
