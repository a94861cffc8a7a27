package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestMigrationsFromEmpty(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st, err := db.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) == 0 {
			t.Fatal("no migrations known")
		}
		for _, s := range st {
			if s.AppliedAt == nil {
				t.Errorf("migration %s not applied", s.Version)
			}
		}
		again, err := db.Migrate(ctx)
		if err != nil || len(again) != 0 {
			t.Fatalf("second migrate applied %v, err %v; want nothing", again, err)
		}
		if n, err := db.Pending(ctx); err != nil || n != 0 {
			t.Fatalf("pending = %d, %v", n, err)
		}
	})
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		err := db.Transact(ctx, func(tx *store.Tx) error {
			return tx.Audit(store.Actor{UserID: "u1", Role: "admin"}, "test.action", "thing", "1", map[string]string{"k": "v"})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm(ctx).Exec(`UPDATE audit_log SET action = 'forged'`).Error; err == nil {
			t.Fatal("UPDATE of audit_log succeeded")
		}
		if err := db.Gorm(ctx).Exec(`DELETE FROM audit_log`).Error; err == nil {
			t.Fatal("DELETE from audit_log succeeded")
		}
		var n int64
		db.Gorm(ctx).Model(&store.AuditEntry{}).Where("action = ?", "test.action").Count(&n)
		if n != 1 {
			t.Fatalf("audit rows = %d, want 1", n)
		}
	})
}

func TestTransactRollsBackOnErrorAndPanic(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := db.Transact(ctx, func(tx *store.Tx) error {
			tx.RecordChange(store.Change{BranchID: "b1", Entity: "visit", EntityID: "x", Op: store.OpUpsert})
			if err := tx.Audit(store.Actor{}, "a", "", "", nil); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		func() {
			defer func() { recover() }()
			db.Transact(ctx, func(tx *store.Tx) error {
				tx.Audit(store.Actor{}, "b", "", "", nil)
				panic("boom")
			})
		}()
		var n int64
		db.Gorm(ctx).Model(&store.AuditEntry{}).Count(&n)
		if n != 0 {
			t.Fatalf("audit rows after rollback = %d", n)
		}
		db.Gorm(ctx).Model(&store.ChangeRow{}).Count(&n)
		if n != 0 {
			t.Fatalf("change rows after rollback = %d", n)
		}
	})
}

// Change numbers are allocated per transaction and never collide, even with
// many concurrent writers; SQLite never reports "database is locked".
func TestChangeNumbersConcurrentWriters(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const writers, each = 8, 20
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					errs <- db.Transact(ctx, func(tx *store.Tx) error {
						for k := 0; k < 3; k++ {
							tx.RecordChange(store.Change{BranchID: "b1", Entity: "visit", EntityID: fmt.Sprintf("%d-%d-%d", w, i, k), Op: store.OpUpsert})
						}
						return nil
					})
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
		}
		var seqs []int64
		db.Gorm(ctx).Model(&store.ChangeRow{}).Distinct("seq").Order("seq").Pluck("seq", &seqs)
		if len(seqs) != writers*each {
			t.Fatalf("distinct seqs = %d, want %d", len(seqs), writers*each)
		}
		for i, s := range seqs {
			if s != int64(i+1) {
				t.Fatalf("seq[%d] = %d: change numbers must be dense", i, s)
			}
		}
	})
}
