// Command openapilint validates an OpenAPI document with kin-openapi and the
// project's rules (see apitest.Lint). It prints every problem and exits 1 if
// there is any.
//
//	go run ./scripts/openapilint mobile-api-docs/openapi.yaml
package main

import (
	"fmt"
	"os"

	"github.com/doorstep-dev/doorstep/server/apitest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: openapilint <openapi.yaml>")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapilint:", err)
		os.Exit(1)
	}
	problems := apitest.LintSpec(data)
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "openapilint: %s: %d problem(s)\n", os.Args[1], len(problems))
		os.Exit(1)
	}
	fmt.Printf("openapilint: %s: ok\n", os.Args[1])
}
