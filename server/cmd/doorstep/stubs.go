package main

import (
	"context"
	"errors"
)

// Commands still being built. Each moves to its own cmd_<name>.go.

func runSim(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("sim: not available yet")
}

func runImport(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("import: not available yet")
}
