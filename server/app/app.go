// Package app wires Doorstep together once: configuration, database,
// secrets, services and the HTTP router. main and the end-to-end tests both
// build the server through it, so tests run exactly what ships.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/httpapi"
	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
)

// App is a wired server.
type App struct {
	Config   config.Config
	DB       *store.DB
	Secrets  *secrets.Secrets
	Log      *slog.Logger
	Metrics  *prometheus.Registry
	Auth     *auth.Service
	Sync     *syncsvc.Service
	Registry *registry.Service
	Coverage *coverage.Service
	Report   *report.Service
	HTTP     *httpapi.Server
}

// NewLogger builds the structured logger the configuration asks for.
func NewLogger(w io.Writer, cfg config.Config) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// OpenDB opens the configured database.
func OpenDB(ctx context.Context, cfg config.Config) (*store.DB, error) {
	return store.Open(ctx, store.Config{URL: cfg.DatabaseURL, DataDir: cfg.DataDir})
}

// Build wires services and router over an open, migrated database.
func Build(cfg config.Config, db *store.DB, sec *secrets.Secrets, log *slog.Logger) (*App, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a := &App{Config: cfg, DB: db, Secrets: sec, Log: log, Metrics: reg}
	a.Auth = auth.New(db, sec, auth.Options{
		Issuer: cfg.Issuer, Audience: cfg.Audience, AccessTTL: cfg.AccessTTL,
		RefreshTTL: cfg.RefreshTTL, RefreshGrace: cfg.RefreshGrace, Log: log,
	})
	a.Coverage = coverage.New(db, coverage.Options{Log: log, Location: cfg.Location()})
	// Sync opens and seals household phones and keys its pull cursors with
	// the same secrets, so every instance over one database agrees.
	phones, err := pii.New(sec)
	if err != nil {
		return nil, fmt.Errorf("build sync: %w", err)
	}
	a.Sync = syncsvc.New(db, syncsvc.Options{Log: log, PII: phones, OnVisitsApplied: a.Coverage.VisitsApplied})
	a.Registry = registry.New(db, sec, registry.Options{Log: log})
	a.Report, err = report.New(db, report.Options{
		Loc: cfg.Location(), Log: log, Close: cfg.ReportClose, RestateAfter: cfg.ReportRestateAfter,
	})
	if err != nil {
		return nil, fmt.Errorf("build reports: %w", err)
	}
	h, err := httpapi.New(httpapi.Deps{
		Config: cfg, DB: db, Log: log, Metrics: reg,
		Auth: a.Auth, Sync: a.Sync, Registry: a.Registry,
		Coverage: a.Coverage, Report: a.Report,
	})
	if err != nil {
		return nil, fmt.Errorf("build router: %w", err)
	}
	a.HTTP = h
	return a, nil
}
