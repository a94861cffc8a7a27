// Command doorstep is the Doorstep server and its operator tools: serve,
// migrate, user, orgunit, device, import, report and sim.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. run gets the arguments after the command name.
type command struct {
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv carries the process's streams so commands are testable.
type cmdEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {"run the sync server", runServe},
		"migrate": {"apply or list database migrations (up, status)", runMigrate},
		"user":    {"manage accounts (add, list, disable, reset-password)", runUser},
		"orgunit": {"manage the branch / county / outlet tree (add, list, import)", runOrgUnit},
		"device":  {"a command-line field device built on the reference client", runDevice},
		"import":  {"import the government monitoring list (households)", runImport},
		"sim":     {"load generator: many simulated devices syncing at once", runSim},
		"report":  {"monthly visit reports: write, rebuild, close (monthly, rebuild, close, catchup)", runReport},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	if err := run(ctx, env, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "doorstep:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, env *cmdEnv, args []string) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stdout, cmds)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(env.stderr, cmds)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.run(ctx, env, args[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Usage: doorstep <command> [flags]\n\nCommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'doorstep <command> --help' for a command's flags.")
}

// subcommands dispatches "doorstep <group> <sub> ..." for grouped commands.
func subcommands(ctx context.Context, env *cmdEnv, group string, args []string, subs map[string]command) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		names := make([]string, 0, len(subs))
		for n := range subs {
			names = append(names, n)
		}
		sort.Strings(names)
		w := env.stdout
		fmt.Fprintf(w, "Usage: doorstep %s <subcommand> [flags]\n\nSubcommands:\n", group)
		for _, n := range names {
			fmt.Fprintf(w, "  %-15s %s\n", n, subs[n].summary)
		}
		if len(args) == 0 {
			return fmt.Errorf("%s: no subcommand given", group)
		}
		return nil
	}
	c, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("%s: unknown subcommand %q (try doorstep %s --help)", group, args[0], group)
	}
	return c.run(ctx, env, args[1:])
}

// newFlags makes a flag set whose --help prints to stdout and returns flag.ErrHelp.
func newFlags(env *cmdEnv, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fs.SetOutput(env.stdout)
		fmt.Fprintf(env.stdout, "Usage: doorstep %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func joinArgs(a []string) string { return strings.Join(a, " ") }

// parseArgs parses flags that may come before or after positional
// arguments ("user disable NAME --data-dir X") and returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
