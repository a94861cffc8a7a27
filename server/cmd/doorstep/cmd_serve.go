package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/doorstep-dev/doorstep/server/app"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
)

func runServe(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "serve", "serve [flags]")
	var cfg config.Config
	cfg.Register(fs)
	demo := fs.Bool("demo", false, "seed a demo bank with accounts and households (once) and print how to sign in")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Finish(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := app.NewLogger(env.stderr, cfg)
	db, sec, err := openAndMigrate(ctx, cfg, log, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := app.Build(cfg, db, sec, log)
	if err != nil {
		return err
	}
	// The report worker and schedule stop before the database closes.
	stopReports := a.Report.Start(ctx)
	defer stopReports()
	if *demo {
		if err := seedDemo(ctx, env, a); err != nil {
			return err
		}
	} else if err := warnIfNoAccounts(ctx, env, db); err != nil {
		return err
	}
	return listenAndServe(ctx, env, a, cfg, log)
}

// openAndMigrate opens the database, loads or creates the secrets, and
// applies migrations when asked to.
func openAndMigrate(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*store.DB, *secrets.Secrets, error) {
	db, err := app.OpenDB(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if migrate {
		applied, err := db.Migrate(ctx)
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		if len(applied) > 0 {
			log.Info("migrations applied", "versions", applied)
		}
	}
	sec, created, err := secrets.LoadOrCreate(cfg.SecretsFile)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if created {
		log.Info("generated new signing and encryption keys", "file", cfg.SecretsFile)
	}
	return db, sec, nil
}

func listenAndServe(ctx context.Context, env *cmdEnv, a *app.App, cfg config.Config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           a.HTTP.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("doorstep listening", "addr", ln.Addr().String(), "database", a.DB.Dialect())
	fmt.Fprintf(env.stdout, "Doorstep is listening on http://%s (database: %s)\n", ln.Addr(), a.DB.Dialect())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "grace", cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown: requests still in flight were cut off", "err", err)
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
