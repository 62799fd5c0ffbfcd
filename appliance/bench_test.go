package appliance

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/apimgw/apimgw/policy"
	"github.com/apimgw/apimgw/wire"
)

// rawUpstream answers every request head with a fixed small JSON response.
func rawUpstream(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"hello\":\"world\"}")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				var pending []byte
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					pending = append(pending, buf[:n]...)
					for {
						i := bytes.Index(pending, []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						pending = pending[:copy(pending, pending[i+4:])]
						c.Write(resp)
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// benchSnapshot: one API with a subscription requirement and an operation
// policy with rate-limit-by-key (never reached) and set-header.
func benchSnapshot(serviceURL string) *wire.Snapshot {
	s := testSnapshot(serviceURL)
	s.APIs[0].ServiceURL = serviceURL
	s.APIs[0].Policy = ""
	s.APIs[0].Operations[0].Policy = `<policies><inbound><base/>` +
		`<rate-limit-by-key calls="1000000000" renewal-period="60" counter-key="@(context.Subscription.Id)"/>` +
		`<set-header name="X-Gateway" exists-action="override"><value>apimgw</value></set-header>` +
		`</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	s.Seal()
	return s
}

// pipelineClient starts a gateway with benchSnapshot in front of rawUpstream
// and returns a function that makes one request on a keep-alive connection.
// onDone makes the handler's OnDone for the server's loop count (nil: no
// telemetry).
func pipelineClient(tb testing.TB, onDone func(loops int) func(*Record)) func() {
	g := startGateway(tb, benchSnapshot(rawUpstream(tb)))
	g.h.OnDone = nil
	if onDone != nil {
		g.h.OnDone = onDone(gatewayLoops)
	}
	c, err := net.Dial("tcp", g.base[len("http://"):])
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	req := []byte("GET /hybrid/test?id=42 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\nAccept: */*\r\nOcp-Apim-Subscription-Key: " + testKey + "\r\n\r\n")
	r := bufio.NewReaderSize(c, 4096)
	var body [17]byte
	return func() {
		c.Write(req)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				tb.Fatal(err)
			}
			if len(line) == 2 {
				break
			}
			if bytes.HasPrefix(line, []byte("HTTP/1.1 ")) && !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
				tb.Fatalf("status: %s", line)
			}
		}
		if _, err := io.ReadFull(r, body[:]); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkHandlerPipeline: a request through the whole gateway over loopback
// (route, subscription key check, rate-limit-by-key, set-header, forward).
func BenchmarkHandlerPipeline(b *testing.B) {
	roundTrip := pipelineClient(b, nil)
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip()
	}
}

// TestHandlerPipelineAllocs (without telemetry; TestHandlerPipelineAllocsTelemetry
// in telemetry_allocs_test.go has it on, as the gateway wires it): no
// allocation in 5,000 requests through the whole pipeline, counted exactly
// (mallocs), the proxy's event loops included.
func TestHandlerPipelineAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; make test runs this test without -race (test-norace)")
	}
	roundTrip := pipelineClient(t, nil)
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	const n = 5000
	if got, where := mallocs(n, roundTrip); got != 0 {
		t.Fatalf("%d allocations in %d requests, want 0:\n%s", got, n, where)
	}
}

// bigSnapshot has n APIs with m operations each, every one with a policy.
func bigSnapshot(n, m int) *wire.Snapshot {
	s := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		Policy: `<policies><inbound><cors><allowed-origins><origin>*</origin></allowed-origins></cors></inbound><backend><forward-request/></backend><outbound/><on-error/></policies>`}
	for i := 0; i < n; i++ {
		a := wire.API{ID: fmt.Sprintf("api%d", i), Path: fmt.Sprintf("api%d", i), ServiceURL: "http://127.0.0.1:9", Protocols: []string{"http"},
			SubscriptionRequired: true,
			Policy:               `<policies><inbound><base/><rate-limit-by-key calls="10" renewal-period="60" counter-key="@(context.Request.IpAddress)"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`}
		for j := 0; j < m; j++ {
			a.Operations = append(a.Operations, wire.Operation{ID: fmt.Sprintf("op%d", j), Method: "GET",
				URLTemplate:        fmt.Sprintf("/items%d/{id}", j),
				TemplateParameters: []wire.TemplateParameter{{Name: "id"}},
				Policy:             `<policies><inbound><base/><set-header name="X-Op" exists-action="override"><value>@(context.Operation.Name)</value></set-header></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`})
		}
		s.APIs = append(s.APIs, a)
	}
	s.Seal()
	return s
}

// BenchmarkCompile100x20: compiling a snapshot of 100 APIs × 20 operations.
func BenchmarkCompile100x20(b *testing.B) {
	snap := bigSnapshot(100, 20)
	st := policy.NewState(nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c, err := Compile(snap, st)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(c.CompileTime)/float64(time.Millisecond), "ms/compile")
	}
}

// PipelineClient, Mallocs and RaceEnabled serve the external tests of this
// directory (package appliance_test, which may import the telemetry pipeline).
var (
	PipelineClient = pipelineClient
	Mallocs        = mallocs
)

const RaceEnabled = raceEnabled
