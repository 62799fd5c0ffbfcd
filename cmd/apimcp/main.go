// Command apimcp is the central control plane: the ARM-shaped management API,
// per-gateway config distribution, heartbeats and telemetry ingest.
package main

import (
	"flag"
	"fmt"
	"os"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

func main() {
	fs := flag.NewFlagSet("apimcp", flag.ExitOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println("apimcp", version)
		return
	}
	fmt.Fprintln(os.Stderr, "apimcp: not implemented yet")
	os.Exit(1)
}
