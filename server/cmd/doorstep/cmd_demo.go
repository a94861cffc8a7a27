package main

import (
	"context"
	"fmt"
	"time"

	"github.com/doorstep-dev/doorstep/server/app"
	"github.com/doorstep-dev/doorstep/server/demo"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/store"
)

// seedDemo seeds the demo bank once and prints how to sign in.
func seedDemo(ctx context.Context, env *cmdEnv, a *app.App) error {
	res, err := demo.Seed(ctx, a.DB)
	if err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	w := env.stdout
	if res.Seeded {
		fmt.Fprintln(w, "Seeded the demo bank (重庆分行: 秀山, 巫溪 and 奉节 sub-branches).")
	} else {
		fmt.Fprintln(w, "The demo bank is already seeded; nothing was changed.")
	}
	loc, _ := time.LoadLocation(a.Config.TimeZone)
	hh, err := registry.SeedDemoHouseholds(ctx, a.DB, a.Secrets, registry.DemoOptions{BranchCode: demo.BranchCode, Location: loc})
	if err != nil {
		return fmt.Errorf("seed demo households: %w", err)
	}
	if hh.Seeded {
		fmt.Fprintf(w, "Seeded a synthetic monitoring list: %d households, %d assigned to the demo officers, %d visits and %d plans so far.\n",
			hh.Households, hh.Assigned, hh.Visits, hh.Plans)
	}
	fmt.Fprintf(w, "\nDemo accounts (password %q for all):\n", demo.Password)
	for _, acc := range demo.Accounts {
		fmt.Fprintf(w, "  %-12s %-15s %s\n", acc.Username, acc.Role, acc.Description)
	}
	base := a.Config.PublicURL
	fmt.Fprintf(w, "\nOpen:\n  %s/docs          API documentation\n  %s/readyz        readiness\n  %s/metrics       Prometheus metrics\n", base, base, base)
	fmt.Fprintf(w, "\nTry a field device:\n  go run ./server/cmd/doorstep device --home /tmp/officer1 login --server %s --user officer1\n\n", base)
	return nil
}

// warnIfNoAccounts tells the operator how to create the first admin.
func warnIfNoAccounts(ctx context.Context, env *cmdEnv, db *store.DB) error {
	n, err := db.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(env.stdout, "No accounts exist yet. Create the first administrator with:\n  doorstep orgunit add --kind branch --code CODE --name NAME\n  doorstep user add --role admin --org CODE --username admin\nor start with --demo to seed a demo bank.")
	}
	return nil
}
