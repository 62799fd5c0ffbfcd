// Command cpbench measures the control plane at fleet scale (make
// bench-controlplane): it starts the real apimcp binary, N simulated gateways
// long-polling it over loopback, changes one policy and measures how long
// until every gateway holds the new version, beside a baseline of the same
// gateways polling every second; it reports apimcp's RSS and CPU while the
// fleet idles in long-polls, and telemetry ingest throughput over HTTP beside
// the same batches stored in-process (no HTTP, no JSON).
//
// With --postgres (a URL, or "start" for a throwaway server of pgtest) it
// starts --replicas apimcp processes on that one database instead, spreads
// the gateways' long-polls and the telemetry uploaders over them, makes the
// changes through the first, and also reports PostgreSQL's connections.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/apimgw/apimgw/controlplane"
	"github.com/apimgw/apimgw/controlplane/pgtest"
	"github.com/apimgw/apimgw/wire"
)

func main() {
	bin := flag.String("apimcp", "bin/apimcp", "apimcp binary")
	n := flag.Int("gateways", 1000, "simulated gateways")
	rounds := flag.Int("rounds", 5, "policy changes per mode")
	batches := flag.Int("batches", 200, "telemetry batches per ingest run")
	perBatch := flag.Int("records", 1000, "records per telemetry batch")
	pg := flag.String("postgres", "", `run apimcp on PostgreSQL: a postgres:// URL of an empty database, or "start" for a throwaway server`)
	replicas := flag.Int("replicas", 2, "apimcp processes on the one database (with --postgres)")
	flag.Parse()
	if err := run(*bin, *n, *rounds, *batches, *perBatch, *pg, *replicas); err != nil {
		fmt.Fprintln(os.Stderr, "cpbench:", err)
		os.Exit(1)
	}
}

func raiseNofile() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	r.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	return r.Cur, nil
}

type cp struct {
	url, token string
	pid        int
	c          *http.Client
	replicas   []*cp  // every apimcp (the first is this one)
	pgURL      string // with --postgres
}

// fleetRSS sums the RSS of every replica.
func (c *cp) fleetRSS() (rss int64, cpu time.Duration) {
	for _, r := range c.replicas {
		a, b := procStats(r.pid)
		rss, cpu = rss+a, cpu+b
	}
	return
}

// pgConns counts the connections to the benchmark's database.
func (c *cp) pgConns() (int, error) {
	conn, err := pgx.Connect(context.Background(), c.pgURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(context.Background(), "SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database()").Scan(&n)
	return n, err
}

// startAPIMCP starts the binary with args and waits for its listening line.
func startAPIMCP(bin string, args ...string) (*cp, *exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard // one access-log line per request
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	sc := bufio.NewScanner(out)
	c := &cp{pid: cmd.Process.Pid}
	for sc.Scan() {
		if _, after, ok := strings.Cut(sc.Text(), "listening on "); ok {
			c.url = after
			break
		}
	}
	go io.Copy(io.Discard, out)
	if c.url == "" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, nil, fmt.Errorf("apimcp %v did not start", args)
	}
	return c, cmd, nil
}

func (c *cp) do(method, path string, body any, hdr ...string) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case []byte:
			rd = bytes.NewReader(b)
		default:
			j, _ := json.Marshal(b)
			rd = bytes.NewReader(j)
		}
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header, err
}

func (c *cp) doGateway(token, path string, gz []byte) (int, []byte, http.Header, error) {
	req, _ := http.NewRequest("POST", c.url+path, bytes.NewReader(gz))
	req.Header.Set("Authorization", "GatewayKey "+token)
	req.Header.Set("Content-Encoding", "gzip")
	res, err := c.c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header, err
}

func (c *cp) must(method, path string, body any) []byte {
	code, b, _, err := c.do(method, path, body)
	if err != nil || code >= 300 {
		panic(fmt.Sprintf("%s %s: %d %v %s", method, path, code, err, b))
	}
	return b
}

// procStats reads RSS (bytes) and total CPU time of pid from /proc.
func procStats(pid int) (rss int64, cpu time.Duration) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				f := strings.Fields(l)
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				rss = kb * 1024
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return
}

type gateway struct {
	id, token string
	mu        sync.Mutex
	version   uint64
	got       map[uint64]time.Time
}

func run(bin string, n, rounds, batches, perBatch int, pgURL string, replicas int) error {
	lim, err := raiseNofile()
	if err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if lim < uint64(2*n+100) {
		return fmt.Errorf("RLIMIT_NOFILE hard limit %d is too low for %d gateways", lim, n)
	}
	dir, err := os.MkdirTemp("", "cpbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tr := &http.Transport{MaxIdleConns: 4 * n, MaxIdleConnsPerHost: 4 * n, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	var c *cp
	if pgURL == "" {
		var cmd *exec.Cmd
		c, cmd, err = startAPIMCP(bin, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
		if err != nil {
			return err
		}
		defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
		tok, err := os.ReadFile(filepath.Join(dir, "data", "admin-token"))
		if err != nil {
			return err
		}
		c.token = strings.TrimSpace(string(tok))
		c.replicas = []*cp{c}
	} else {
		if pgURL == "start" {
			srv, err := pgtest.Start()
			if err != nil {
				return err
			}
			defer srv.Close()
			if pgURL, err = srv.NewDatabase(); err != nil {
				return err
			}
		}
		token := "cpbench-admin-token-0123456789abcdef"
		tokFile := filepath.Join(dir, "admin-token")
		if err := os.WriteFile(tokFile, []byte(token), 0o600); err != nil {
			return err
		}
		var all []*cp
		for i := 0; i < replicas; i++ {
			r, cmd, err := startAPIMCP(bin, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, fmt.Sprint("data", i)),
				"--store", pgURL, "--admin-token-file", tokFile)
			if err != nil {
				return err
			}
			defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
			r.token, r.c = token, client
			all = append(all, r)
		}
		c = all[0]
		c.replicas, c.pgURL = all, pgURL
		fmt.Printf("cpbench: %d apimcp replicas on one PostgreSQL database\n", replicas)
	}
	c.c = client

	fmt.Printf("cpbench: apimcp %s, %d gateways, RLIMIT_NOFILE %d\n", bin, n, lim)
	setup := time.Now()
	c.must("PUT", "/apis/echo", map[string]any{"properties": map[string]any{"path": "echo", "serviceUrl": "http://127.0.0.1:9"}})
	c.must("PUT", "/apis/echo/operations/get", map[string]any{"properties": map[string]any{"method": "GET", "urlTemplate": "/items"}})
	gws := make([]*gateway, n)
	exp := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	for i := range gws {
		g := &gateway{id: fmt.Sprintf("gw%04d", i), got: map[uint64]time.Time{}}
		c.must("PUT", "/gateways/"+g.id, nil)
		c.must("PUT", "/gateways/"+g.id+"/apis/echo", nil)
		var v struct{ Value string }
		json.Unmarshal(c.must("POST", "/gateways/"+g.id+"/generateToken", map[string]any{"expiry": exp}), &v)
		g.token = v.Value
		gws[i] = g
	}
	fmt.Printf("setup: %d gateways created and assigned in %v (%.1f ms per gateway, each write re-checks every gateway)\n",
		n, time.Since(setup).Round(time.Millisecond), float64(time.Since(setup).Milliseconds())/float64(n))
	t0 := time.Now()
	c.must("PUT", "/apis/echo/policies/policy", map[string]any{"properties": map[string]any{"format": "rawxml", "value": "<policies><inbound><base/></inbound></policies>"}})
	fmt.Printf("one policy write with %d gateways: %v\n", n, time.Since(t0).Round(time.Microsecond))

	for _, mode := range []string{"long-poll", "poll-1s"} {
		lat, idleCPU, rss, err := propagate(c, gws, mode, rounds)
		if err != nil {
			return err
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
		fmt.Printf("%-9s propagation over %d rounds x %d gateways: p50 %v  p99 %v  max %v\n", mode, rounds, n,
			pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
		fmt.Printf("%-9s apimcp while %d gateways wait: RSS %.1f MiB, CPU %.1f%% of one core (10 s sample; summed over %d process(es))\n", mode, n, float64(rss)/(1<<20), idleCPU*100, len(c.replicas))
	}
	return ingest(c, gws, batches, perBatch, dir)
}

// propagate runs the fleet in one mode; each round changes the policy and
// measures, per gateway, the time until it holds the new version.
func propagate(c *cp, gws []*gateway, mode string, rounds int) ([]time.Duration, float64, int64, error) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	var errs atomic.Int64
	for gi, g := range gws {
		wg.Add(1)
		base := c.replicas[gi%len(c.replicas)].url // spread over the replicas
		go func() {
			defer wg.Done()
			etag := ""
			if mode == "poll-1s" {
				// Spread the pollers over the second, as independent boxes would be.
				time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
			}
			for !stop.Load() {
				q := "?wait=60"
				if mode == "poll-1s" {
					q = ""
				}
				req, _ := http.NewRequest("GET", base+wire.PathConfig+q, nil)
				req.Header.Set("Authorization", "GatewayKey "+g.token)
				if etag != "" {
					req.Header.Set("If-None-Match", etag)
				}
				res, err := c.c.Do(req)
				if err != nil {
					errs.Add(1)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				now := time.Now()
				if res.StatusCode == 200 {
					var s struct{ Version uint64 }
					json.Unmarshal(body, &s)
					etag = res.Header.Get("ETag")
					g.mu.Lock()
					g.version = s.Version
					g.got[s.Version] = now
					g.mu.Unlock()
				}
				if mode == "poll-1s" {
					time.Sleep(time.Second)
				}
			}
		}()
	}
	defer func() {
		stop.Store(true)
		// Wake the long-polls so the goroutines end.
		c.must("PUT", "/apis/echo/policies/policy", map[string]any{"properties": map[string]any{"format": "rawxml", "value": fmt.Sprintf("<policies><inbound><base/><!-- end %s --></inbound></policies>", mode)}})
		wg.Wait()
	}()
	// Everyone holds the current version and is waiting.
	time.Sleep(3 * time.Second)
	_, cpu0 := c.fleetRSS()
	time.Sleep(10 * time.Second)
	rss, cpu1 := c.fleetRSS()
	idle := float64(cpu1-cpu0) / float64(10*time.Second)
	if c.pgURL != "" {
		var each []string
		for _, r := range c.replicas {
			rr, _ := procStats(r.pid)
			each = append(each, fmt.Sprintf("%.1f MiB", float64(rr)/(1<<20)))
		}
		conns, err := c.pgConns()
		fmt.Printf("%-9s while the fleet waits: replica RSS %s; PostgreSQL connections to the database %d (err %v)\n", mode, strings.Join(each, ", "), conns, err)
	}
	var lat []time.Duration
	for r := 0; r < rounds; r++ {
		_, _, h, err := c.do("GET", "/gateways/gw0000/snapshot", nil)
		if err != nil {
			return nil, 0, 0, err
		}
		before, _ := strconv.ParseUint(h.Get(wire.HeaderSnapshotVersion), 10, 64)
		t0 := time.Now()
		c.must("PUT", "/apis/echo/policies/policy", map[string]any{"properties": map[string]any{"format": "rawxml", "value": fmt.Sprintf("<policies><inbound><base/><!-- %s round %d --></inbound></policies>", mode, r)}})
		want := before + 1
		deadline := time.Now().Add(30 * time.Second)
		for {
			missing := 0
			for _, g := range gws {
				g.mu.Lock()
				if _, ok := g.got[want]; !ok {
					missing++
				}
				g.mu.Unlock()
			}
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				return nil, 0, 0, fmt.Errorf("%s round %d: %d gateways never got version %d (%d request errors)", mode, r, missing, want, errs.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, g := range gws {
			g.mu.Lock()
			lat = append(lat, g.got[want].Sub(t0))
			g.mu.Unlock()
		}
		time.Sleep(500 * time.Millisecond)
	}
	return lat, idle, rss, nil
}

// ingest posts telemetry batches over HTTP from 4 uploaders, once as gzip
// JSON (wire.TelemetryBatch) and once as gzip binary batches
// (wire.RawBatch, what apimgw sends), with apimcp's CPU per 100k records for
// each; then stores the same batches in-process in a fresh store as the
// baseline.
func ingest(c *cp, gws []*gateway, batches, perBatch int, dir string) error {
	const uploaders = 4
	mk := func(stream string, b int) *wire.TelemetryBatch {
		base := time.Now().Add(-time.Hour)
		recs := make([]wire.TelemetryRecord, perBatch)
		for i := range recs {
			seq := uint64(b*perBatch + i + 1)
			recs[i] = wire.TelemetryRecord{Seq: seq, Time: base.Add(time.Duration(seq) * time.Millisecond), API: "echo", Operation: "get",
				Product: "p1", Subscription: "s1", Method: "GET", PathTemplate: "/items", Status: 200, BackendStatus: 200,
				TotalMicros: 1200, BackendMicros: 900, BytesIn: 120, BytesOut: 512, ClientIP: "10.1.2.3"}
		}
		return &wire.TelemetryBatch{ProtocolVersion: 1, Stream: stream, Sequence: uint64((b + 1) * perBatch), Records: recs}
	}
	gz := func(b []byte) []byte {
		var zb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
		zw.Write(b)
		zw.Close()
		return zb.Bytes()
	}
	total := batches * perBatch
	var resend []byte
	for _, enc := range []string{"json", "binary"} {
		bodies := make([][][]byte, uploaders)
		for u := 0; u < uploaders; u++ {
			for b := u; b < batches; b += uploaders {
				bt := mk("bench-"+enc, b)
				bt.Gateway = gws[u].id
				var raw []byte
				if enc == "json" {
					raw, _ = json.Marshal(bt)
				} else {
					raw = wire.AppendRawBatch(nil, controlplane.RawBatchOf(bt))
				}
				bodies[u] = append(bodies[u], gz(raw))
			}
		}
		if enc == "json" {
			resend = bodies[0][0]
		}
		ctype := "application/json"
		if enc == "binary" {
			ctype = wire.TelemetryBatchContentType
		}
		_, cpu0 := c.fleetRSS()
		start := time.Now()
		var wg sync.WaitGroup
		var failed atomic.Int64
		for u := 0; u < uploaders; u++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, body := range bodies[u] {
					req, _ := http.NewRequest("POST", c.replicas[u%len(c.replicas)].url+wire.PathTelemetry, bytes.NewReader(body))
					req.Header.Set("Authorization", "GatewayKey "+gws[u].token)
					req.Header.Set("Content-Encoding", "gzip")
					req.Header.Set("Content-Type", ctype)
					res, err := c.c.Do(req)
					if err != nil || res.StatusCode != 200 {
						failed.Add(1)
					}
					if res != nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		_, cpu1 := c.fleetRSS()
		if failed.Load() > 0 {
			return fmt.Errorf("%d telemetry batches failed", failed.Load())
		}
		fmt.Printf("ingest over HTTP (gzip %s, %d uploaders, %d batches x %d records): %d records in %v = %.0f records/s, apimcp CPU %.2f s per 100k records\n",
			enc, uploaders, batches, perBatch, total, el.Round(time.Millisecond), float64(total)/el.Seconds(),
			(cpu1-cpu0).Seconds()/float64(total)*100000)
	}
	// A resent batch (to another replica, with several) is acknowledged and
	// not stored again.
	code, body, _, err := c.replicas[len(c.replicas)-1].doGateway(gws[0].token, wire.PathTelemetry, resend)
	var ack wire.TelemetryAck
	json.Unmarshal(body, &ack)
	if err != nil || code != 200 || ack.Duplicates != perBatch || ack.Accepted != 0 {
		return fmt.Errorf("resent batch: %d %v %+v", code, err, ack)
	}
	// Baseline: the same batches stored in-process (no HTTP, no JSON, no gzip).
	st, err := controlplane.Open(filepath.Join(dir, "baseline.db"), controlplane.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	for b := 0; b < batches; b++ {
		bt := mk("bench", b)
		bt.Gateway = "gw"
		if _, err := st.Ingest("gw", controlplane.RawBatchOf(bt)); err != nil {
			return err
		}
	}
	el := time.Since(start)
	fmt.Printf("baseline: same batches into Store.Ingest in-process: %d records in %v = %.0f records/s\n",
		total, el.Round(time.Millisecond), float64(total)/el.Seconds())
	// Idempotence under the bench: resending one batch adds nothing.
	return nil
}
