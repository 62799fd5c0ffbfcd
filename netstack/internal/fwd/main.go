// Command fwd is a benchmark fixture: the netstack engine with a handler that
// forwards every request to one upstream, with no API-management work. It
// measures the engine alone beside nginx (scripts/bench-proxy.sh).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/apimgw/apimgw/netstack"
)

type forward struct{ upstream string }

func (f forward) Serve(x *netstack.Exchange) { x.Forward(f.upstream) }

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	upstream := flag.String("upstream", "", "upstream host:port")
	loops := flag.Int("loops", 0, "event loops (0: one per CPU)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here until stopped")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *upstream == "" {
		log.Fatal("fwd: -upstream is required")
	}
	s := netstack.New(netstack.Config{Addr: *listen, Loops: *loops}, forward{*upstream})
	if err := s.Start(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	s.Shutdown(context.Background())
}
