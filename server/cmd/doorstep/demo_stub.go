package main

import (
	"context"
	"fmt"

	"github.com/doorstep-dev/doorstep/server/app"
	"github.com/doorstep-dev/doorstep/server/store"
)

func seedDemo(ctx context.Context, env *cmdEnv, a *app.App) error {
	return fmt.Errorf("demo: not available yet")
}

func warnIfNoAccounts(ctx context.Context, env *cmdEnv, db *store.DB) error { return nil }
