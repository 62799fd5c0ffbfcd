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
	if len(os.Args) > 1 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println("apimctl", version)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: apimctl <command> ...")
	os.Exit(2)
}
