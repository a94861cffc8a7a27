package main

import (
	"context"
	"errors"
)

// Commands still being built. Each moves to its own cmd_<name>.go.

func runImport(ctx context.Context, env *cmdEnv, args []string) error {
	return errors.New("import: not available yet")
}
