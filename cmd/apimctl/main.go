// Command apimctl is the operator CLI: resources on the control plane (apimcp),
// offline policy checks, and the status of a local gateway.
package main

import (
	"fmt"
	"os"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: apimctl <command> ...")
		return 2
	}
	switch args[0] {
	case "version", "--version":
		fmt.Println("apimctl", version)
		return 0
	case "policy":
		return runPolicy(args[1:])
	}
	fmt.Fprintf(os.Stderr, "apimctl: unknown command %q\n", args[0])
	return 2
}
