package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance"
	"github.com/apimgw/apimgw/appliance/agent"
	"github.com/apimgw/apimgw/appliance/envconf"
	"github.com/apimgw/apimgw/appliance/telemetry"
	"github.com/apimgw/apimgw/controlplane"
	"github.com/apimgw/apimgw/store"
	"github.com/apimgw/apimgw/wire"
)

// binaryControlPlane is the real apimcp binary from $APIMGW_BIN.
type binaryControlPlane struct {
	*controlPlane
	bin, data, tokFile string
	cmd                *exec.Cmd
}

// startBinaryControlPlane runs the real apimcp binary from $APIMGW_BIN on
// 127.0.0.1:0 and returns a controlPlane whose admin calls go to it (the
// request log and lost answers of the in-process one are not available).
func startBinaryControlPlane(tb testing.TB, bin string) *binaryControlPlane {
	tb.Helper()
	dir := tb.TempDir()
	b := &binaryControlPlane{controlPlane: &controlPlane{t: tb, addr: "127.0.0.1:0"}, bin: bin,
		data: filepath.Join(dir, "data"), tokFile: filepath.Join(dir, "admin-token")}
	if err := os.WriteFile(b.tokFile, []byte(adminToken), 0o600); err != nil {
		tb.Fatal(err)
	}
	b.start()
	tb.Cleanup(func() { b.kill(os.Interrupt) })
	return b
}

// start runs apimcp (on the same address after a kill).
func (b *binaryControlPlane) start() {
	tb := b.t
	tb.Helper()
	for try := 0; ; try++ {
		cmd := exec.Command(filepath.Join(b.bin, "apimcp"), "--listen", b.addr, "--data", b.data, "--admin-token-file", b.tokFile)
		out, err := cmd.StdoutPipe()
		if err != nil {
			tb.Fatal(err)
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start apimcp: %v", err)
		}
		sc := bufio.NewScanner(out)
		url := ""
		for sc.Scan() {
			if _, after, ok := strings.Cut(sc.Text(), "apimcp: listening on "); ok {
				url = strings.TrimSpace(after)
				break
			}
		}
		if url == "" {
			cmd.Wait()
			if try < 50 { // the port may linger for a moment after a kill
				time.Sleep(20 * time.Millisecond)
				continue
			}
			tb.Fatal("apimcp did not print its listen address")
		}
		go io.Copy(io.Discard, out)
		b.cmd, b.URL = cmd, url
		b.addr = strings.TrimPrefix(url, "http://")
		return
	}
}

func (b *binaryControlPlane) kill(sig os.Signal) {
	if b.cmd != nil {
		b.cmd.Process.Signal(sig)
		b.cmd.Wait()
		b.cmd = nil
	}
}

// fillQueue puts n telemetry records into st through the real pipeline.
func fillQueue(tb testing.TB, st *store.Store, n int) {
	tb.Helper()
	p := telemetry.New(st, telemetry.Options{Loops: 1, BufferBytes: 32 << 20})
	now := time.Now()
	for i := range n {
		r := appliance.Record{Loop: 0, Time: now.Add(time.Duration(i) * time.Microsecond), API: "echo", Operation: "get",
			PathTemplate: "/test", Method: "GET", Status: 200, BackendStatus: 200, Total: time.Millisecond,
			Backend: 500 * time.Microsecond, BytesIn: 100, BytesOut: 200, ClientIP: "192.0.2.7", Subscription: "sub1", Product: "unlimited"}
		p.OnDone(&r)
		if i%100000 == 99999 {
			p.Flush(context.Background())
		}
	}
	if err := p.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if ps := p.Stats(); ps.DroppedBuffer != 0 {
		tb.Fatalf("filling the queue dropped %d records", ps.DroppedBuffer)
	}
}

// BenchmarkBacklogFlush measures how fast a backlog of queued telemetry
// reaches the control plane after reconnect: a store holding N records
// (APIMGW_FLUSH_RECORDS, default 200,000), an agent started against apimcp
// (the real binary from $APIMGW_BIN when set, else the control plane
// in-process), timed until the queue is empty (every record acknowledged),
// then the control plane's report is checked to count exactly N. Baseline,
// same run: the control plane's own ingest (Store.Ingest in-process, no
// HTTP, no JSON) of the same records in batches of the same size.
//
//	go test -run '^$' -bench BacklogFlush -benchtime 1x ./appliance/agent
func BenchmarkBacklogFlush(b *testing.B) {
	n := 200000
	if v, err := strconv.Atoi(os.Getenv("APIMGW_FLUSH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	var cp *controlPlane
	where := "in-process control plane"
	if bin := os.Getenv("APIMGW_BIN"); bin != "" {
		cp = startBinaryControlPlane(b, bin).controlPlane
		where = "bin/apimcp"
	} else {
		cp = startControlPlane(b)
	}
	key := cp.setupGatewayKey("gw1")
	b.Logf("%d records, %s at %s", n, where, cp.URL)
	variants := []struct {
		name string
		cfg  func(*agent.Config)
	}{
		{"gzip,5000x2", func(*agent.Config) {}},
		{"nogzip,5000x2", func(c *agent.Config) { c.DisableGzip = true }},
		{"gzip,10000x4", func(c *agent.Config) { c.BatchRecords, c.UploadsInFlight = 10000, 4 }},
		{"gzip,1000x1", func(c *agent.Config) { c.BatchRecords, c.UploadsInFlight = 1000, 1 }},
	}
	counted := int64(0)
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			for range b.N {
				st, err := store.Open(filepath.Join(b.TempDir(), "apimgw.db"), store.Options{})
				if err != nil {
					b.Fatal(err)
				}
				fillQueue(b, st, n)
				tok, _ := envconf.ParseToken(wire.SignToken(key, "gw1", time.Now().Add(24*time.Hour)))
				cfg := agent.Config{Endpoint: cp.URL, Token: func() *envconf.Token { return &tok }, Store: st,
					Apply: func(context.Context, []byte) error { return nil }, HeartbeatInterval: time.Hour,
					UploadInterval: 10 * time.Millisecond, Host: func(context.Context) wire.HostFacts { return wire.HostFacts{} },
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
				v.cfg(&cfg)
				a, err := agent.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				b.ResetTimer()
				start := time.Now()
				go func() { a.Run(ctx); close(done) }()
				for {
					qs, err := st.QueueStats()
					if err != nil {
						b.Fatal(err)
					}
					if qs.Records == 0 {
						break
					}
					if time.Since(start) > 5*time.Minute {
						b.Fatalf("backlog not flushed after 5 minutes: %+v", qs)
					}
					time.Sleep(2 * time.Millisecond)
				}
				took := time.Since(start)
				b.StopTimer()
				cancel()
				<-done
				st.Close()
				counted += int64(n)
				if got := cp.calls("gw1"); got != counted {
					b.Fatalf("control plane counts %d, want %d", got, counted)
				}
				b.ReportMetric(float64(n)/took.Seconds(), "records/s")
				b.Logf("%s: %d records flushed in %s = %.0f records/s (%s)", v.name, n, took.Round(time.Millisecond), float64(n)/took.Seconds(), where)
			}
		})
	}
	b.Run("baseline-ingest-in-process", func(b *testing.B) {
		for range b.N {
			benchIngestBaseline(b, n)
		}
	})
}

// benchIngestBaseline: the control plane's storage alone, fed the same
// records, decoded ahead, in batches of 5,000.
func benchIngestBaseline(b *testing.B, n int) {
	st, err := store.Open(filepath.Join(b.TempDir(), "apimgw.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	fillQueue(b, st, n)
	cps, err := controlplane.Open(filepath.Join(b.TempDir(), "cp.db"), controlplane.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer cps.Close()
	var batches []*wire.RawBatch
	after := uint64(0)
	for {
		recs, err := st.Read(after, 5000, 0)
		if err != nil || len(recs) == 0 {
			break
		}
		batch := &wire.RawBatch{ProtocolVersion: wire.ProtocolVersion, Gateway: "gw1", Stream: "s", Sequence: recs[len(recs)-1].Seq}
		for _, r := range recs {
			batch.Records = append(batch.Records, wire.RawRecord{Seq: r.Seq, Data: r.Data})
		}
		batches = append(batches, batch)
		after = recs[len(recs)-1].Seq
	}
	b.ResetTimer()
	start := time.Now()
	total := 0
	for _, batch := range batches {
		ack, err := cps.Ingest("gw1", batch)
		if err != nil {
			b.Fatal(err)
		}
		total += ack.Accepted
	}
	took := time.Since(start)
	if total != n {
		b.Fatalf("ingested %d of %d", total, n)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "records/s")
	b.Logf("baseline: control plane Store.Ingest of %d records in %s = %.0f records/s", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
}

var _ = fmt.Sprint
