package agent_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/agent"
	"github.com/apimgw/apimgw/appliance/envconf"
	"github.com/apimgw/apimgw/store"
	"github.com/apimgw/apimgw/wire"
)

// fakeClock is an injected clock: Now is set by the test and every After
// waits until the test fires it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*waiter
	added   chan struct{}
}

type waiter struct {
	d  time.Duration
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Now(), added: make(chan struct{}, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &waiter{d: d, ch: make(chan time.Time, 1)}
	c.waiters = append(c.waiters, w)
	c.added <- struct{}{}
	return w.ch
}

// next waits for an After call with a duration accepted by match, advances
// Now by its duration and fires it. It returns the duration.
func (c *fakeClock) next(t *testing.T, match func(time.Duration) bool) time.Duration {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for i, w := range c.waiters {
			if match(w.d) {
				c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
				c.now = c.now.Add(w.d)
				now := c.now
				c.mu.Unlock()
				w.ch <- now
				return w.d
			}
		}
		c.mu.Unlock()
		select {
		case <-c.added:
		case <-deadline:
			t.Fatal("no matching wait within 10s")
		}
	}
}

// TestBackoffExponentialWithJitter: with the control plane unreachable,
// the sync waits BackoffMin doubled per failure up to BackoffMax, half of it
// fixed and half random; the status says offline, counts the failures and
// names the next retry; when the control plane is there, one retry connects
// and the failures reset.
func TestBackoffExponentialWithJitter(t *testing.T) {
	addr := freeAddr(t)
	clock := newFakeClock()
	var jitterMu sync.Mutex
	jitter := []float64{0, 1, 0.5, 0, 0.25, 0.999, 0.5, 0.5, 0}
	jn := 0
	st, err := store.Open(filepath.Join(t.TempDir(), "apimgw.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var tok envconf.Token
	var tokMu sync.Mutex
	a, err := agent.New(agent.Config{
		Endpoint: "http://" + addr, Store: st, Version: "test", Clock: clock,
		Token: func() *envconf.Token { tokMu.Lock(); defer tokMu.Unlock(); t := tok; return &t },
		Apply: func(context.Context, []byte) error { return nil },
		Jitter: func() float64 {
			jitterMu.Lock()
			defer jitterMu.Unlock()
			v := jitter[jn%len(jitter)]
			jn++
			return v
		},
		HeartbeatInterval: time.Hour, UploadInterval: 2 * time.Hour, // told apart from backoff waits by length
		Host:   func(context.Context) wire.HostFacts { return wire.HostFacts{} },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A token of the right form for a gateway that does not exist yet: the
	// control plane is not reachable anyway.
	tokMu.Lock()
	tok, _ = envconf.ParseToken(wire.SignToken("k", "gw1", time.Now().Add(24*time.Hour)))
	tokMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	isBackoff := func(d time.Duration) bool { return d <= time.Minute }
	wantBase := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, base := range wantBase {
		base *= time.Second
		got := clock.next(t, isBackoff)
		j := jitter[i%len(jitter)]
		want := base/2 + time.Duration(j*float64(base/2))
		if got != want {
			t.Fatalf("failure %d: waited %s, want %s (base %s, jitter %.3f)", i+1, got, want, base, j)
		}
		if got < base/2 || got > base {
			t.Fatalf("failure %d: %s outside [%s, %s]", i+1, got, base/2, base)
		}
		s := a.Status()
		if s.Connected || !s.NeverConnected || s.Failures < i+1 || !strings.Contains(s.LastError, "unreachable") {
			t.Fatalf("failure %d: status %+v", i+1, s)
		}
	}
	s := a.Status()
	if !s.NextRetry.After(clock.Now().Add(-time.Minute)) {
		t.Fatalf("next retry %s", s.NextRetry)
	}

	// The control plane appears on that address; the next retry connects.
	cp := &controlPlane{t: t, dir: t.TempDir(), addr: addr}
	cp.start()
	t.Cleanup(cp.stop)
	key := cp.setupGatewayKey("gw1")
	tokMu.Lock()
	tok, _ = envconf.ParseToken(wire.SignToken(key, "gw1", time.Now().Add(24*time.Hour)))
	tokMu.Unlock()
	clock.next(t, isBackoff)
	eventually(t, 5*time.Second, "connected", func() bool { s := a.Status(); return s.Connected && s.Failures == 0 })
	if s := a.Status(); s.NeverConnected || s.LastSync.IsZero() {
		t.Fatalf("status after recovery %+v", s)
	}
}

// setupGatewayKey is setupGateway returning the gateway's primary key (to
// sign tokens with any expiry).
func (c *controlPlane) setupGatewayKey(gw string) string {
	c.t.Helper()
	c.setupGateway(gw)
	out := c.admin("POST", "/gateways/"+gw+"/listKeys", nil, 200)
	var k struct{ Primary string }
	if err := jsonUnmarshal(out, &k); err != nil || k.Primary == "" {
		c.t.Fatalf("listKeys: %s", out)
	}
	return k.Primary
}

var _ = errors.Is
var _ = fmt.Sprint
