package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

// Failures are read newest first and capped; recording one prunes the key's
// failures older than the window, and a global prune forgets the rest.
func TestLoginFailureBookkeeping(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := store.Now().Add(-time.Hour)
		for i := 0; i < 6; i++ {
			at := t0.Add(time.Duration(i) * time.Minute)
			if err := db.RecordLoginFailure(ctx, []string{"user:a", "ip:1"}, at, t0.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.RecentLoginFailures(ctx, "user:a", t0.Add(2*time.Minute), 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !got[0].Equal(t0.Add(5*time.Minute)) || !got[2].Equal(t0.Add(3*time.Minute)) {
			t.Fatalf("recent failures %v: want the 3 newest, newest first", got)
		}
		// A new failure with a window starting at t0+4m drops the older ones of that key only.
		if err := db.RecordLoginFailure(ctx, []string{"user:a"}, t0.Add(10*time.Minute), t0.Add(4*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.RecentLoginFailures(ctx, "user:a", t0.Add(-time.Hour), 100); len(got) != 3 {
			t.Fatalf("user:a keeps %d failures, want 3", len(got))
		}
		if got, _ := db.RecentLoginFailures(ctx, "ip:1", t0.Add(-time.Hour), 100); len(got) != 6 {
			t.Fatalf("ip:1 keeps %d failures, want 6", len(got))
		}
		if err := db.PruneLoginAttempts(ctx, t0.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.RecentLoginFailures(ctx, "ip:1", t0.Add(-time.Hour), 100); len(got) != 1 {
			t.Fatalf("ip:1 keeps %d failures after prune, want 1", len(got))
		}
	})
}
