package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/doorstep-dev/doorstep/server/app"
	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/store"
)

func runUser(ctx context.Context, env *cmdEnv, args []string) error {
	return subcommands(ctx, env, "user", args, map[string]command{
		"add":            {"create an account (password from a prompt, or stdin with --password-stdin)", userAdd},
		"list":           {"list accounts", userList},
		"disable":        {"disable an account and end its sessions", userDisable},
		"enable":         {"enable a disabled account", userEnable},
		"reset-password": {"set a new password and end the account's sessions", userResetPassword},
	})
}

// operatorDB opens and migrates the configured database for an operator command.
func operatorDB(ctx context.Context, cfg config.Config) (*store.DB, error) {
	db, err := app.OpenDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		if _, err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// readPassword prompts on a terminal (twice, no echo) or reads one line from
// stdin. Passwords never come from argv, where ps and shell history see them.
func readPassword(env *cmdEnv, fromStdin bool) (string, error) {
	if f, ok := env.stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.stderr, "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(env.stderr, "Repeat password: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords do not match")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(env.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on stdin")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func userAdd(ctx context.Context, env *cmdEnv, args []string) error {
	var username, role, org, display string
	var fromStdin bool
	cfg, _, err := dbFlags(env, "user add", "user add --username NAME --role ROLE --org CODE [--name DISPLAY] [--password-stdin]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "login name")
		fs.StringVar(&role, "role", "", "officer, supervisor, branch_manager or admin")
		fs.StringVar(&org, "org", "", "code of the home org unit (outlet for officers, branch for managers and admins)")
		fs.StringVar(&display, "name", "", "display name")
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin")
	})
	if err != nil {
		return err
	}
	if username == "" || role == "" || org == "" {
		return errors.New("user add: --username, --role and --org are required")
	}
	pw, err := readPassword(env, fromStdin)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	db, err := operatorDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	var u store.User
	err = db.Transact(ctx, func(tx *store.Tx) error {
		var err error
		u, err = tx.CreateUser(store.NewUser{Username: username, DisplayName: display, Role: role, OrgUnitCode: org, PasswordHash: hash})
		if err != nil {
			return err
		}
		return tx.Audit(store.Actor{Role: "operator"}, "user.add", "user", u.ID, map[string]string{"username": u.Username, "role": u.Role})
	})
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	fmt.Fprintf(env.stdout, "Created %s (%s) in %s.\n", u.Username, u.Role, org)
	return nil
}

func userList(ctx context.Context, env *cmdEnv, args []string) error {
	cfg, _, err := dbFlags(env, "user list", "user list [flags]", args)
	if err != nil {
		return err
	}
	db, err := operatorDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	users, err := db.ListUsers(ctx, store.Actor{})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%-16s %-15s %-9s %-10s %s\n", "USERNAME", "ROLE", "STATUS", "ORG", "ORG NAME")
	for _, u := range users {
		fmt.Fprintf(env.stdout, "%-16s %-15s %-9s %-10s %s\n", u.Username, u.Role, u.Status, u.UnitCode, u.UnitName)
	}
	return nil
}

func userStatus(ctx context.Context, env *cmdEnv, args []string, name, status string) error {
	cfg, pos, err := dbFlags(env, "user "+name, "user "+name+" USERNAME", args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("user %s: give exactly one USERNAME", name)
	}
	db, err := operatorDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.Transact(ctx, func(tx *store.Tx) error {
		u, err := tx.SetUserStatus(pos[0], status)
		if err != nil {
			return err
		}
		return tx.Audit(store.Actor{Role: "operator"}, "user."+name, "user", u.ID, nil)
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user %s: no account %q", name, pos[0])
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s is now %s.\n", pos[0], status)
	return nil
}

func userDisable(ctx context.Context, env *cmdEnv, args []string) error {
	return userStatus(ctx, env, args, "disable", store.UserDisabled)
}

func userEnable(ctx context.Context, env *cmdEnv, args []string) error {
	return userStatus(ctx, env, args, "enable", store.UserActive)
}

func userResetPassword(ctx context.Context, env *cmdEnv, args []string) error {
	var fromStdin bool
	cfg, pos, err := dbFlags(env, "user reset-password", "user reset-password USERNAME [--password-stdin]", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the new password from the first line of stdin")
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("user reset-password: give exactly one USERNAME")
	}
	pw, err := readPassword(env, fromStdin)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	db, err := operatorDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.Transact(ctx, func(tx *store.Tx) error {
		u, err := tx.SetPasswordHash(pos[0], hash)
		if err != nil {
			return err
		}
		return tx.Audit(store.Actor{Role: "operator"}, "user.reset_password", "user", u.ID, nil)
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user reset-password: no account %q", pos[0])
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "Password of %s replaced; its sessions were ended.\n", pos[0])
	return nil
}
