package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/doorstep-dev/doorstep/server/app"
	"github.com/doorstep-dev/doorstep/server/config"
)

func runMigrate(ctx context.Context, env *cmdEnv, args []string) error {
	return subcommands(ctx, env, "migrate", args, map[string]command{
		"up":     {"apply every pending migration", migrateUp},
		"status": {"list migrations and when each was applied", migrateStatus},
	})
}

// dbFlags parses an operator command's flags — the server's configuration
// flags plus any the command adds through extra — before or after its
// positional arguments, validates the configuration and returns it with the
// positionals.
func dbFlags(env *cmdEnv, name, synopsis string, args []string, extra ...func(fs *flag.FlagSet)) (config.Config, []string, error) {
	fs := newFlags(env, name, synopsis)
	var cfg config.Config
	cfg.Register(fs)
	for _, add := range extra {
		add(fs)
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return cfg, nil, err
	}
	if err := cfg.Finish(); err != nil {
		return cfg, nil, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, pos, nil
}

func migrateUp(ctx context.Context, env *cmdEnv, args []string) error {
	cfg, _, err := dbFlags(env, "migrate up", "migrate up [flags]", args)
	if err != nil {
		return err
	}
	db, err := app.OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(env.stdout, "Database is up to date.")
	}
	for _, v := range applied {
		fmt.Fprintln(env.stdout, "applied", v)
	}
	return nil
}

func migrateStatus(ctx context.Context, env *cmdEnv, args []string) error {
	cfg, _, err := dbFlags(env, "migrate status", "migrate status [flags]", args)
	if err != nil {
		return err
	}
	db, err := app.OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, s := range st {
		at := "pending"
		if s.AppliedAt != nil {
			at = "applied " + s.AppliedAt.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(env.stdout, "%-32s %s\n", s.Version, at)
	}
	return nil
}
