package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/appliance/status"
)

type statusSource struct{}

func (statusSource) Facts(context.Context) status.Facts {
	return status.Facts{Version: "9.9.9", GatewayName: "edge-1", Mode: status.ModeHybrid, Ready: true,
		StartedAt: time.Now().Add(-time.Hour), Activity: "serving snapshot 7 (1 APIs)",
		ControlPlane: status.ControlPlane{Endpoint: "https://cp.example", Connected: false, LastError: "dial tcp: connection refused"},
		Snapshot:     status.Snapshots{Current: "7"},
		Token:        &status.Token{GatewayID: "edge-1", Expiry: time.Now().Add(-time.Minute)},
		Telemetry:    status.Backlog{Records: 12, Bytes: 900},
		Listeners:    []status.Listener{{Name: "http", Addr: "127.0.0.1:8080"}}}
}

func (statusSource) Rollback(context.Context, string) error { return nil }

func TestGwStatus(t *testing.T) {
	srv, err := status.New(status.Config{Source: statusSource{}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	var out bytes.Buffer
	prev := stdout
	stdout = &out
	defer func() { stdout = prev }()
	if code := run([]string{"gw", "status", "--addr", strings.TrimPrefix(ts.URL, "http://")}); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"edge-1 (hybrid, ready)", "offline", "dial tcp: connection refused", "snapshot       7", "(expired)", "12 records queued"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"gw", "status", "--addr", strings.TrimPrefix(ts.URL, "http://"), "-o", "json"}); code != exitOK || !strings.Contains(out.String(), `"gatewayName": "edge-1"`) {
		t.Fatalf("json: %d %s", code, out.String())
	}
	if code := run([]string{"gw", "status", "--addr", "127.0.0.1:1"}); code != exitUnreachable {
		t.Fatalf("unreachable gateway: exit %d", code)
	}
}

// connectedSource is a gateway that was offline and is connected again.
type connectedSource struct{ since, errAt time.Time }

func (c connectedSource) Facts(ctx context.Context) status.Facts {
	f := statusSource{}.Facts(ctx)
	f.ControlPlane.Connected, f.ControlPlane.Since, f.ControlPlane.LastErrorAt = true, c.since, c.errAt
	return f
}

func (connectedSource) Rollback(context.Context, string) error { return nil }

// TestGwStatusLastError: an error while offline is shown as the last error
// with its time; once the gateway is connected again it is shown as what
// happened earlier, not as a current problem.
func TestGwStatusLastError(t *testing.T) {
	errAt := time.Date(2026, 5, 1, 11, 59, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		src  status.Source
		want string
	}{
		{"offline", offlineSource{errAt}, "last error     dial tcp: connection refused (at 2026-05-01T11:59:00Z)"},
		{"connected again", connectedSource{since: errAt.Add(time.Minute), errAt: errAt}, "last error     none now; earlier, at 2026-05-01T11:59:00Z: dial tcp: connection refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, err := status.New(status.Config{Source: c.src})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			var out bytes.Buffer
			prev := stdout
			stdout = &out
			defer func() { stdout = prev }()
			if code := run([]string{"gw", "status", "--addr", strings.TrimPrefix(ts.URL, "http://")}); code != exitOK {
				t.Fatalf("exit %d", code)
			}
			if !strings.Contains(out.String(), c.want) {
				t.Fatalf("want %q in:\n%s", c.want, out.String())
			}
		})
	}
}

type offlineSource struct{ errAt time.Time }

func (c offlineSource) Facts(ctx context.Context) status.Facts {
	f := statusSource{}.Facts(ctx)
	f.ControlPlane.LastErrorAt = c.errAt
	return f
}

func (offlineSource) Rollback(context.Context, string) error { return nil }
