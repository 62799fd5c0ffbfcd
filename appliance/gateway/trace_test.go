package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// TestTracePolicyGoesToTheLog: the real gateway sets a Tracer, so a trace
// policy's output reaches its log (the journal under systemd) with the
// request it came from, and /metrics counts it.
func TestTracePolicyGoesToTheLog(t *testing.T) {
	b := backend(t)
	d := newDaemon(t, b.URL, "")
	snap := wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1, GeneratedAt: time.Now().UTC(), APIs: []wire.API{{
		ID: "echo", Path: "echo", ServiceURL: b.URL, Protocols: []string{"http"},
		Policy: `<policies><inbound><base/><trace source="edge" severity="error"><message>@("traced " + context.Request.Url.Path)</message><metadata name="who" value="ops"/></trace>` +
			`<trace source="edge" severity="verbose"><message>too chatty for level info</message></trace></inbound>` +
			`<backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
		Operations: []wire.Operation{{ID: "any", Method: "*", URLTemplate: "/{*rest}", TemplateParameters: []wire.TemplateParameter{{Name: "rest"}}}},
	}}}
	raw, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "snapshot.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	d.start()
	if st := statusOf(t, d.data+"/echo/orders/7"); st != 200 {
		t.Fatalf("request: %d\n%s", st, d.logs())
	}
	eventually(t, 5*time.Second, "the trace in the log:\n"+d.logs(), func() bool { return strings.Contains(d.logs(), "traced /orders/7") })
	var line string
	for _, l := range strings.Split(d.logs(), "\n") {
		if strings.Contains(l, "traced /orders/7") {
			line = l
		}
	}
	for _, want := range []string{"source=edge", "api=echo", "operation=any", "metadata.who=ops", "requestId="} {
		if !strings.Contains(line, want) {
			t.Errorf("trace line lacks %q: %s", want, line)
		}
	}
	if strings.Contains(d.logs(), "too chatty") {
		t.Error("a verbose trace was logged at log level info")
	}
	resp, err := http.Get(d.status + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`apimgw_trace_messages_total{severity="error",outcome="logged"} 1`,
		`apimgw_trace_messages_total{severity="verbose",outcome="below-level"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	d.stop(syscall.SIGTERM)
}
