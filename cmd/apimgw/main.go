// Command apimgw is the gateway appliance daemon: the data plane, the sync agent
// and the on-box status page. See README.md and docs/.
//
//	apimgw --config /etc/apimgw/env.conf
//	apimgw --version
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"syscall"

	"github.com/apimgw/apimgw/appliance/gateway"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "0.0.0-dev"

func main() {
	fs := flag.NewFlagSet("apimgw", flag.ExitOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	configPath := fs.String("config", "/etc/apimgw/env.conf", "path of env.conf")
	fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println("apimgw", version)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	// APIMGW_CPUPROFILE=FILE writes a CPU profile until the daemon stops (for
	// performance work; see docs/benchmarks.md).
	if path := os.Getenv("APIMGW_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	// APIMGW_TRACE=FILE writes a runtime execution trace until the daemon
	// stops (scheduling latency on the event loops' Ps; see
	// docs/benchmarks.md, "Who holds the P").
	if path := os.Getenv("APIMGW_TRACE"); path != "" {
		if f, err := os.Create(path); err == nil {
			trace.Start(f)
			defer func() { trace.Stop(); f.Close() }()
		}
	}
	// APIMGW_HEAPPROFILE=FILE writes a heap profile (live objects) when the
	// daemon stops.
	if path := os.Getenv("APIMGW_HEAPPROFILE"); path != "" {
		defer func() {
			if f, err := os.Create(path); err == nil {
				runtime.GC()
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}()
	}
	if err := gateway.Run(ctx, gateway.Options{ConfigPath: *configPath, Version: version}, reload); err != nil {
		pprof.StopCPUProfile()
		trace.Stop()
		fmt.Fprintln(os.Stderr, "apimgw:", err)
		os.Exit(1)
	}
}
