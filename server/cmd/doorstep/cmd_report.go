package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
)

func runReport(ctx context.Context, env *cmdEnv, args []string) error {
	return subcommands(ctx, env, "report", args, map[string]command{
		"monthly": {"write a month's report of an org unit as xlsx or csv", reportMonthly},
		"rebuild": {"recompute a month's report tables from the base tables", reportRebuild},
		"close":   {"close a branch's month (version 1), as the schedule would", reportClose},
		"catchup": {"bring the report tables up to the end of the change log", reportCatchUp},
	})
}

// reportFlags registers the database flags and parses; extra adds the
// command's own flags before parsing.
func reportFlags(env *cmdEnv, name, synopsis string, args []string, extra func(fs *flag.FlagSet)) (config.Config, error) {
	fs := newFlags(env, name, synopsis)
	var cfg config.Config
	cfg.Register(fs)
	extra(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	if err := cfg.Finish(); err != nil {
		return cfg, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, nil
}

func reportService(ctx context.Context, cfg config.Config) (*store.DB, *report.Service, error) {
	db, err := operatorDB(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	svc, err := report.New(db, report.Options{Loc: cfg.Location(), Close: cfg.ReportClose, RestateAfter: cfg.ReportRestateAfter})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, svc, nil
}

func reportMonthly(ctx context.Context, env *cmdEnv, args []string) error {
	var month, org, format, out, lang string
	var version int
	cfg, err := reportFlags(env, "report monthly", "report monthly --month YYYY-MM --org CODE --format xlsx|csv --out FILE [--lang en] [--version N] [flags]", args,
		func(fs *flag.FlagSet) {
			fs.StringVar(&month, "month", "", "the month, YYYY-MM (local time)")
			fs.StringVar(&org, "org", "", "org unit code: a branch, county sub-branch or outlet")
			fs.StringVar(&format, "format", "xlsx", "xlsx or csv")
			fs.StringVar(&out, "out", "", "file to write")
			fs.StringVar(&lang, "lang", "zh", "headers: zh (default) or en")
			fs.IntVar(&version, "version", 0, "a closed version of the month; 0 writes the current figures")
		})
	if err != nil {
		return err
	}
	if month == "" || org == "" || out == "" {
		return errors.New("report monthly: --month, --org and --out are required")
	}
	if format != report.FormatXLSX && format != report.FormatCSV {
		return fmt.Errorf("report monthly: --format %q: want xlsx or csv", format)
	}
	if lang != "zh" && lang != "en" {
		return fmt.Errorf("report monthly: --lang %q: want zh or en", lang)
	}
	db, svc, err := reportService(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	// Take in whatever the server's worker has not yet, so the file is current.
	if err := svc.CatchUp(ctx); err != nil {
		return err
	}
	body, _, err := svc.Render(ctx, month, org, version, format, lang)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, body, 0o600); err != nil {
		return fmt.Errorf("report monthly: %w", err)
	}
	fmt.Fprintf(env.stdout, "wrote %s (%d bytes)\n", out, len(body))
	return nil
}

func reportRebuild(ctx context.Context, env *cmdEnv, args []string) error {
	var month, org string
	cfg, err := reportFlags(env, "report rebuild", "report rebuild --month YYYY-MM [--org CODE] [flags]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&month, "month", "", "the month, YYYY-MM (local time)")
		fs.StringVar(&org, "org", "", "any unit of the branch to rebuild; empty rebuilds every branch")
	})
	if err != nil {
		return err
	}
	if month == "" {
		return errors.New("report rebuild: --month is required")
	}
	db, svc, err := reportService(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := svc.Rebuild(ctx, month, org); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "rebuilt %s\n", month)
	return nil
}

func reportClose(ctx context.Context, env *cmdEnv, args []string) error {
	var month, org string
	cfg, err := reportFlags(env, "report close", "report close --month YYYY-MM --org BRANCH [flags]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&month, "month", "", "the month, YYYY-MM (local time)")
		fs.StringVar(&org, "org", "", "the branch's code")
	})
	if err != nil {
		return err
	}
	if month == "" || org == "" {
		return errors.New("report close: --month and --org are required")
	}
	db, svc, err := reportService(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := svc.CloseAsOperator(ctx, month, org)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "closed %s: version %d, %d files stored\n", month, v.Version, len(v.Files))
	return nil
}

func reportCatchUp(ctx context.Context, env *cmdEnv, args []string) error {
	cfg, err := reportFlags(env, "report catchup", "report catchup [flags]", args, func(fs *flag.FlagSet) {})
	if err != nil {
		return err
	}
	db, svc, err := reportService(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := svc.CatchUp(ctx); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "report tables are current")
	return nil
}
