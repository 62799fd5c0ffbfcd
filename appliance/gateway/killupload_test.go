package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/envconf"
	"github.com/apimgw/apimgw/wire"
)

// ackDelayRelay is a TCP relay between apimgw and apimcp that passes what
// apimgw sends at once and holds what apimcp answers for delay: a telemetry
// batch reaches the control plane (and is stored) well before its ack
// reaches the gateway, so a SIGKILL of apimgw in between leaves batches the
// control plane has and the gateway must send again. InFlight counts the
// telemetry uploads whose answer has not reached apimgw yet.
type ackDelayRelay struct {
	addr     string
	target   string
	delay    time.Duration
	ln       net.Listener
	inFlight atomic.Int64
	uploads  atomic.Int64
}

func startAckDelayRelay(t testing.TB, target string, delay time.Duration) *ackDelayRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &ackDelayRelay{addr: ln.Addr().String(), target: target, delay: delay, ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

type heldChunk struct {
	at time.Time
	b  []byte
}

func (r *ackDelayRelay) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer up.Close()
	// pending: uploads on this connection not answered yet (HTTP/1.1: one
	// request at a time, answered in order).
	var pending atomic.Int64
	defer func() { r.inFlight.Add(-pending.Swap(0)) }()
	go func() {
		defer up.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if k := int64(bytes.Count(buf[:n], []byte("POST "+wire.PathTelemetry+" "))); k > 0 {
					pending.Add(k)
					r.inFlight.Add(k)
					r.uploads.Add(k)
				}
				if _, werr := up.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	held := make(chan heldChunk, 1024)
	go func() {
		defer close(held)
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				held <- heldChunk{time.Now().Add(r.delay), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	for h := range held {
		time.Sleep(time.Until(h.at))
		if bytes.HasPrefix(h.b, []byte("HTTP/1.1 ")) && pending.Load() > 0 {
			pending.Add(-1)
			r.inFlight.Add(-1)
		}
		if _, err := c.Write(h.b); err != nil {
			return
		}
	}
}

// killAnswer is one data-plane request of TestTelemetryKillDuringUpload: its
// identity is its client address (each request comes from its own loopback
// address, which the record carries as its client IP).
type killAnswer struct {
	ip       string
	answered bool      // a complete 200 answer arrived
	start    time.Time // before the connection was made: the process listening then answers
	end      time.Time // when the answer (or the failure) came
}

// TestTelemetryKillDuringUpload: the real apimgw under steady load is
// SIGKILLed three times while telemetry uploads are on the wire (batches
// stored by apimcp whose acks a relay holds back), and restarted. Then every
// request is looked up at the control plane by its identity
// (/reports/byRequest, the client IP of each record): each request that got
// an answer is counted exactly once, except those answered shortly before a
// kill, which may be missing: the records a SIGKILL may take with it by
// design (docs/sync.md): ≤ 5 ms in the loop's ring, then the store's commit
// in progress when the record reached the queue, the commit interval (env.conf
// default, envconf.DefaultCommitInterval) and
// the record's own commit, each commit a bbolt transaction with two fsyncs
// (data, then meta). The fsyncs' part is measured: a probe fsyncs a file
// beside the gateway's store every 5 ms, and a kill's window is 5 ms + the
// commit interval + 4 × the
// longest probe fsync of the second before it + 35 ms for the scheduling of a
// loaded machine. A lost request beyond its window must still be in the tail
// a kill takes (the disk stalled longer than the probe saw): no request of the
// same run answered more than 100 ms after it may have been counted (commits
// are in order, so a later record on disk means this one was: a hole is a real
// loss). No request may be counted twice, and nothing may be counted that no
// client sent.
func TestTelemetryKillDuringUpload(t *testing.T) {
	bin := e2eBinaries(t)
	be := backend(t)
	cp := startCP(t, bin)
	cp.ctl("api", "create", "hybrid", "--display-name", "Hybrid", "--path", "hybrid", "--service-url", be.URL, "--subscription-required", "true")
	cp.ctl("operation", "create", "test", "--api", "hybrid", "--method", "GET", "--url-template", "/test", "--display-name", "Test call")
	cp.ctl("product", "create", "unlimited", "--display-name", "Unlimited", "--state", "published", "--subscription-required", "true")
	cp.ctl("product", "add-api", "unlimited", "hybrid")
	cp.ctl("subscription", "create", "demo", "--display-name", "Demo", "--scope", "/products/unlimited")
	cp.ctl("gateway", "create", "gw1", "--location", "kill")
	cp.ctl("gateway", "assign", "gw1", "hybrid")
	var secrets struct{ PrimaryKey string }
	json.Unmarshal(cp.ctl("-o", "json", "subscription", "keys", "demo"), &secrets)
	var tok struct{ Value string }
	json.Unmarshal(cp.ctl("-o", "json", "gateway", "token", "gw1", "--expiry", "720h"), &tok)

	rl := startAckDelayRelay(t, cp.addr, 300*time.Millisecond)
	gw := newGW(t, bin, "http://"+rl.addr, "gw1", tok.Value)
	gw.start()
	gw.waitReady(20 * time.Second)
	defer func() {
		if t.Failed() {
			t.Logf("apimgw log (tail):\n%s", lastLines(gw.log.String(), 40))
		}
	}()
	dataAddr := strings.TrimPrefix(gw.data, "http://")
	head := "GET /hybrid/test HTTP/1.1\r\nHost: gw\r\nOcp-Apim-Subscription-Key: " + secrets.PrimaryKey + "\r\nConnection: close\r\n\r\n"

	// The fsync probe: how long a commit's fsync takes on this disk now.
	type fsyncTook struct {
		at   time.Time
		took time.Duration
	}
	var (
		fsMu   sync.Mutex
		fsyncs []fsyncTook
	)
	probeStop := make(chan struct{})
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		f, err := os.Create(filepath.Join(gw.dir, "fsync-probe"))
		if err != nil {
			return
		}
		defer f.Close()
		page := make([]byte, 4096)
		for {
			select {
			case <-probeStop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			t0 := time.Now()
			f.WriteAt(page, 0)
			f.Sync()
			fsMu.Lock()
			fsyncs = append(fsyncs, fsyncTook{t0, time.Since(t0)})
			fsMu.Unlock()
		}
	}()
	// window is how long before kill k an answered request may have been
	// and still be lost by design.
	window := func(k time.Time) time.Duration {
		fsMu.Lock()
		defer fsMu.Unlock()
		var longest time.Duration
		for _, f := range fsyncs {
			if !f.at.Before(k.Add(-time.Second)) && f.at.Before(k) {
				longest = max(longest, f.took)
			}
		}
		return 5*time.Millisecond + envconf.DefaultCommitInterval + 4*longest + 35*time.Millisecond
	}

	// The load: 4 clients, one connection per request, each from its own
	// address 127.a.b.c.
	var (
		mu      sync.Mutex
		answers []killAnswer
		next    atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	one := func() {
		i := next.Add(1) - 1
		ip := fmt.Sprintf("127.%d.%d.%d", 10+i/62500, i/250%250+1, i%250+1)
		a := killAnswer{ip: ip, start: time.Now()}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
		if c, err := d.Dial("tcp", dataAddr); err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, head); err == nil {
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					a.answered = err == nil && resp.StatusCode == 200
				}
			}
			c.Close()
		}
		a.end = time.Now()
		mu.Lock()
		answers = append(answers, a)
		mu.Unlock()
		if !a.answered {
			time.Sleep(5 * time.Millisecond) // no hot loop while apimgw is down
		}
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				one()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}

	// Three SIGKILLs, each while an upload is on the wire.
	var kills, readies []time.Time
	for k := range 3 {
		time.Sleep(1500 * time.Millisecond)
		if _, ok := pollFor(10*time.Second, func() bool { return rl.inFlight.Load() > 0 }); !ok {
			close(stop)
			wg.Wait()
			t.Fatalf("kill %d: no telemetry upload in flight within 10 s (%d uploads so far)", k+1, rl.uploads.Load())
		}
		kills = append(kills, time.Now())
		gw.p.cmd.Process.Signal(syscall.SIGKILL)
		<-gw.p.exited
		gw.p = nil
		gw.start()
		gw.waitReady(20 * time.Second)
		readies = append(readies, gw.readyAt)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	close(probeStop)
	<-probeDone
	var windows []time.Duration
	for _, k := range kills {
		windows = append(windows, window(k).Round(time.Millisecond))
	}

	// Drained: the gateway's queue is empty and the control plane's record
	// count has not moved for 2 s.
	type byRequestRow struct {
		IPAddress string `json:"ipAddress"`
		RequestID string `json:"requestId"`
	}
	var rows []byRequestRow
	fetch := func() {
		var v struct{ Value []byRequestRow }
		if err := json.Unmarshal(cp.mustARM("GET", "/reports/byRequest", nil, 200), &v); err != nil {
			t.Fatal(err)
		}
		rows = v.Value
	}
	last, changed := -1, time.Now()
	if _, ok := pollFor(2*time.Minute, func() bool {
		fetch()
		if len(rows) != last {
			last, changed = len(rows), time.Now()
		}
		f := gw.facts()
		return f.Telemetry.Records == 0 && f.ControlPlane.Connected && time.Since(changed) >= 2*time.Second
	}); !ok {
		t.Fatalf("telemetry did not drain: %d records at the control plane, gateway %+v", len(rows), gw.facts().Telemetry)
	}

	counted := map[string]int{}
	for _, r := range rows {
		counted[r.IPAddress]++
	}
	sent := map[string]bool{}
	var answered, lost, cutOff, cutOffCounted int
	var lostBefore []time.Duration // how long before a kill each lost answer came
	var problems []string
	// epochOf: which apimgw answered a, as the index of the first kill after
	// a started (len(kills): the last process). A request that started before
	// a kill was answered by the process killed then (the next one listens
	// only after it): its answer may be read by the client a little after
	// the kill. lastCounted: per epoch, the latest answer counted.
	epochOf := func(a killAnswer) int {
		return sort.Search(len(kills), func(i int) bool { return kills[i].After(a.start) })
	}
	lastCounted := make([]time.Time, len(kills)+1)
	for _, a := range answers {
		if k := epochOf(a); a.answered && counted[a.ip] == 1 && a.end.After(lastCounted[k]) {
			lastCounted[k] = a.end
		}
	}
	beyond := 0
	for _, a := range answers {
		sent[a.ip] = true
		n := counted[a.ip]
		if n > 1 {
			problems = append(problems, fmt.Sprintf("request from %s counted %d times", a.ip, n))
		}
		if !a.answered {
			cutOff++ // failed at a kill: the gateway may have recorded it or not
			cutOffCounted += n
			continue
		}
		answered++
		if n == 1 {
			continue
		}
		if n == 0 {
			lost++
			k := epochOf(a)
			if k == len(kills) {
				problems = append(problems, fmt.Sprintf("request from %s answered at %s, after the last kill, is not counted", a.ip, a.end.Format("15:04:05.000")))
				continue
			}
			before := max(0, kills[k].Sub(a.end))
			lostBefore = append(lostBefore, before.Round(time.Millisecond))
			if before <= windows[k] {
				continue
			}
			// Beyond the window (the disk stalled longer than the probe
			// saw): still a loss by design if it is in the tail that was
			// not yet on disk, i.e. no request of the same run answered
			// more than 100 ms later (the client's own timing jitter) was
			// counted. A counted one after it is a hole: a real loss.
			if at := lastCounted[k]; at.Sub(a.end) > 100*time.Millisecond {
				prev := "none"
				if k > 0 {
					prev = a.end.Sub(readies[k-1]).Round(time.Millisecond).String() + " after apimgw was ready again"
				}
				problems = append(problems, fmt.Sprintf("request from %s answered at %s (%s) is not counted, but one answered at %s before the same kill (%s) is: a hole, not the tail a SIGKILL takes",
					a.ip, a.end.Format("15:04:05.000"), prev, at.Format("15:04:05.000"), kills[k].Format("15:04:05.000")))
			} else {
				beyond++
			}
		}
	}
	for ip := range counted {
		if !sent[ip] {
			problems = append(problems, fmt.Sprintf("a record from %s, which sent nothing", ip))
		}
	}
	sort.Slice(lostBefore, func(i, j int) bool { return lostBefore[i] < lostBefore[j] })
	t.Logf("%d requests: %d answered, %d cut off by a kill (%d of them recorded); %d records at the control plane; "+
		"%d answered requests lost, answered %v before a kill (windows %v; %d beyond them, in the tail); %d uploads, 3 SIGKILLs with an upload in flight",
		len(answers), answered, cutOff, cutOffCounted, len(rows), lost, lostBefore, windows, beyond, rl.uploads.Load())
	if answered < 500 {
		t.Errorf("only %d answered requests: too little load to show anything", answered)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("%d problems, e.g.:\n%s", len(problems), strings.Join(firstStrings(problems, 20), "\n"))
	}
}

func fmtTimes(ts []time.Time) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Format("15:04:05.000"))
	}
	return strings.Join(s, " ")
}
