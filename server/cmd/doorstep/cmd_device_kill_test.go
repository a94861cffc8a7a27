package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
	"github.com/doorstep-dev/doorstep/syncproto/client"
)

const helperEnv = "DOORSTEP_TEST_HELPER_ARGS"

// TestHelperProcess is not a test: it runs `doorstep` with the arguments in
// DOORSTEP_TEST_HELPER_ARGS, so a test can start the command as a real
// process and kill it.
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("helper process only")
	}
	err := run(context.Background(), &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, strings.Split(raw, "\x1f"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// `doorstep device sync` is killed with SIGKILL at random moments while it
// pushes and pulls; afterwards one more sync finishes the job and nothing is
// lost or stored twice.
func TestDeviceSyncSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		env := testenv.New(t, db, noReportSchedule)
		hh, err := db.CreateSimHouseholds(ctx, testenv.Officer1, "KILL", 5)
		if err != nil {
			t.Fatal(err)
		}
		home := t.TempDir()
		c, err := client.Open(ctx, home, client.Options{BaseURL: env.URL})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, testenv.Officer1, testenv.Password, "kill test"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		const visits = 400
		for i := 0; i < visits; i++ {
			if _, err := c.CreateVisit(ctx, client.VisitInput{HouseholdID: hh[i%len(hh)], Outcome: syncproto.OutcomeVisited, Notes: fmt.Sprint("visit ", i)}); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()

		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, 1))
		killed := 0
		for i := 0; i < 12; i++ {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join([]string{"device", "--home", home, "sync"}, "\x1f"))
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(time.Duration(20+rng.IntN(400)) * time.Millisecond):
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				killed++
			}
		}
		t.Logf("killed %d of 12 syncs", killed)

		c, err = client.Open(ctx, home, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		rep, err := c.SyncWith(ctx, client.SyncOptions{Digest: true})
		if err != nil || rep.Diverged || rep.Pending != 0 {
			t.Fatalf("after the kills: %+v %v", rep, err)
		}
		if n := countVisits(t, db); n != visits {
			t.Fatalf("server holds %d visits, want %d", n, visits)
		}
		local, _ := c.Visits(ctx, "")
		if len(local) != visits {
			t.Fatalf("device shows %d visits, want %d", len(local), visits)
		}
		for _, v := range local {
			if v.Version == 0 {
				t.Fatalf("visit %s was never confirmed by the server on the device", v.ID)
			}
		}
		if _, err := os.Stat(filepath.Join(home, "device.db")); err != nil {
			t.Fatal(err)
		}
	})
}
