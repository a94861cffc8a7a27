package report_test

import (
	"context"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

// TestCatchUpWaitsForAnotherPass: while another transaction holds the
// branch's worker cursor (another instance's pass, or one being rolled back
// at shutdown), CatchUp waits for it instead of returning early, so that
// when it returns the tables hold every change committed before the call.
// Postgres only: SQLite has a single writer, so nothing can hold the cursor
// while CatchUp runs.
func TestCatchUpWaitsForAnotherPass(t *testing.T) {
	db := dbtest.NewPostgres(t)
	ctx := context.Background()
	f := newFixture(t, db, at(2026, 11, 3, 9, 0))
	hh := f.household("XS")
	f.assign(hh, "XS-01", "officer1", "")
	f.catchUp()
	f.visit(hh, "officer1", "XS-01", at(2026, 11, 3, 8, 0), "visited")

	// Another pass: holds the cursor row until released, then rolls back.
	held, release := make(chan error, 1), make(chan struct{})
	rolledBack := make(chan error, 1)
	go func() {
		conn, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			held <- err
			return
		}
		_, err = conn.ExecContext(ctx, `SELECT last_seq FROM report_cursors WHERE branch_id = $1 FOR UPDATE`, f.branch.ID)
		held <- err
		<-release
		rolledBack <- conn.Rollback()
	}()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.svc.CatchUp(ctx) }()
	// Release the other pass only once CatchUp is seen waiting on a lock.
	for {
		var waiting int
		err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("CatchUp returned (%v) while another pass held the cursor", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(release)
	if err := <-rolledBack; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := f.rows("2026-11")[f.unitKey(store.LevelBranch, "CQ")]
	if got.VisitsTotal != 1 {
		t.Fatalf("after CatchUp the branch counts %d visits, want 1", got.VisitsTotal)
	}
}
