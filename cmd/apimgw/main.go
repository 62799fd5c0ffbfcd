// Command apimgw is the gateway appliance daemon: the data plane, the sync agent
// and the on-box status page. See README.md and docs/.
package main

import (
	"flag"
	"fmt"
	"os"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

func main() {
	fs := flag.NewFlagSet("apimgw", flag.ExitOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	_ = fs.String("config", "/etc/apimgw/env.conf", "path of env.conf")
	fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println("apimgw", version)
		return
	}
	fmt.Fprintln(os.Stderr, "apimgw: not implemented yet")
	os.Exit(1)
}
