package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/store"
)

func runOrgUnit(ctx context.Context, env *cmdEnv, args []string) error {
	return subcommands(ctx, env, "orgunit", args, map[string]command{
		"add":    {"add a branch, county sub-branch or outlet", orgUnitAdd},
		"list":   {"list the org tree", orgUnitList},
		"import": {"add org units from a CSV file: kind,code,name,parent_code", orgUnitImport},
	})
}

func orgUnitAdd(ctx context.Context, env *cmdEnv, args []string) error {
	var n store.NewOrgUnit
	cfg, _, err := dbFlags(env, "orgunit add", "orgunit add --kind branch|county|outlet --code CODE --name NAME [--parent CODE]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&n.Kind, "kind", "", "branch, county or outlet")
		fs.StringVar(&n.Code, "code", "", "unique code")
		fs.StringVar(&n.Name, "name", "", "name, e.g. 秀山支行")
		fs.StringVar(&n.ParentCode, "parent", "", "parent code (county: its branch; outlet: its county)")
	})
	if err != nil {
		return err
	}
	return addOrgUnits(ctx, env, cfg, []store.NewOrgUnit{n})
}

// addOrgUnits adds all units in one transaction: all or nothing.
func addOrgUnits(ctx context.Context, env *cmdEnv, cfg config.Config, units []store.NewOrgUnit) error {
	db, err := operatorDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.Transact(ctx, func(tx *store.Tx) error {
		for i, n := range units {
			u, err := tx.CreateOrgUnit(n)
			if err != nil {
				if len(units) > 1 {
					return fmt.Errorf("line %d: %w", i+2, err)
				}
				return err
			}
			if err := tx.Audit(store.Actor{Role: "operator"}, "orgunit.add", "org_unit", u.ID, map[string]string{"code": u.Code}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("orgunit: %w (nothing was added)", err)
	}
	fmt.Fprintf(env.stdout, "Added %d org unit(s).\n", len(units))
	return nil
}

func orgUnitList(ctx context.Context, env *cmdEnv, args []string) error {
	cfg, _, err := dbFlags(env, "orgunit list", "orgunit list [flags]", args)
	if err != nil {
		return err
	}
	db, err := operatorDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	units, err := db.ListOrgUnits(ctx, store.Actor{})
	if err != nil {
		return err
	}
	for _, u := range units {
		depth := strings.Count(u.Path, "/") - 2
		fmt.Fprintf(env.stdout, "%s%-10s %-7s %s\n", strings.Repeat("  ", depth), u.Code, u.Kind, u.Name)
	}
	return nil
}

func orgUnitImport(ctx context.Context, env *cmdEnv, args []string) error {
	cfg, pos, err := dbFlags(env, "orgunit import", "orgunit import FILE.csv   (header: kind,code,name,parent_code; parents before children)", args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("orgunit import: give exactly one CSV file")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	units, err := parseOrgUnitCSV(f)
	if err != nil {
		return fmt.Errorf("orgunit import: %w", err)
	}
	return addOrgUnits(ctx, env, cfg, units)
}

func parseOrgUnitCSV(r io.Reader) ([]store.NewOrgUnit, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	for _, need := range []string{"kind", "code", "name", "parent_code"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("header must have kind,code,name,parent_code; %s is missing", need)
		}
	}
	var out []store.NewOrgUnit
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		get := func(k string) string {
			if i := col[k]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		out = append(out, store.NewOrgUnit{Kind: get("kind"), Code: get("code"), Name: get("name"), ParentCode: get("parent_code")})
	}
	if len(out) == 0 {
		return nil, errors.New("no org units in the file")
	}
	return out, nil
}
