package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// A small sim with provisioning through the server's Postgres database.
func TestSimProvisionsAndConverges(t *testing.T) {
	ctx := context.Background()
	url := dbtest.NewPostgresURL(t)
	db, err := store.Open(ctx, store.Config{URL: url, MaxOpenConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	env := testenv.New(t, db, noReportSchedule)
	home := filepath.Join(t.TempDir(), "sim")
	args := []string{"sim", "--server", env.URL, "--provision", "--database-url", url, "--devices", "12", "--officers", "6",
		"--households-per-officer", "3", "--rounds", "2", "--edits", "3", "--home", home, "--clock-skew", "48h", "--progress-every", "50ms"}
	out, errOut, err := runCmd(t, "", args...)
	if err != nil {
		t.Fatalf("sim: %v\n%s\n%s", err, out, errOut)
	}
	checkSimSummary(t, out, 12)
	if !strings.Contains(out, "provision: 6 officers and 18 households created") {
		t.Fatalf("provisioning summary:\n%s", out)
	}
	if !strings.Contains(errOut, "syncs") {
		t.Fatalf("no progress on stderr:\n%s", errOut)
	}
	if fi, err := os.Stat(filepath.Join(home, "sim-password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sim password file: %v %v", fi, err)
	}
	// A second run reuses the accounts and the devices' sessions.
	out, errOut, err = runCmd(t, "", args...)
	if err != nil {
		t.Fatalf("second sim: %v\n%s\n%s", err, out, errOut)
	}
	checkSimSummary(t, out, 12)
	if !strings.Contains(out, "provision: 0 officers and 0 households created, 18 households existed") {
		t.Fatalf("second provisioning summary:\n%s", out)
	}
}

// Existing accounts on either database.
func TestSimWithExistingUsers(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		env := testenv.New(t, db, noReportSchedule)
		for _, u := range []string{testenv.Officer1, testenv.Officer2, testenv.Officer3} {
			if _, err := db.CreateSimHouseholds(ctx, u, "S"+u, 2); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("DOORSTEP_SIM_PASSWORD", testenv.Password)
		out, errOut, err := runCmd(t, "", "sim", "--server", env.URL, "--users", "officer1,officer2,officer3",
			"--devices", "6", "--rounds", "2", "--home", t.TempDir())
		if err != nil {
			t.Fatalf("sim: %v\n%s\n%s", err, out, errOut)
		}
		checkSimSummary(t, out, 6)
		if n := countVisits(t, db); n == 0 {
			t.Fatal("the sim's visits did not reach the server")
		}
	})
}

func checkSimSummary(t *testing.T, out string, devices int) {
	t.Helper()
	for _, want := range []string{
		"divergence: 0 of " + strconv.Itoa(devices) + " devices", "errors: 0", "sync/push", "sync/pull", "p99 ms", "server side",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("summary lacks %q:\n%s", want, out)
		}
	}
	if m := regexp.MustCompile(`mutations: (\d+) pushed: (\d+) accepted, (\d+) merged, 0 rejected`).FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Fatalf("mutation summary:\n%s", out)
	}
}
