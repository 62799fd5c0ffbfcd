package main

import (
	"fmt"
	"os"
)

// runPolicy implements `apimctl policy ...` (owned by the policy work: `policy check FILE...`).
func runPolicy(args []string) int {
	fmt.Fprintln(os.Stderr, "apimctl policy: not implemented yet")
	return 2
}
