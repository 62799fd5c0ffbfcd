package netstack

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

type replacingHandler struct{ upstream string }

func (h replacingHandler) Serve(x *Exchange) {
	switch string(x.Req.Bytes(x.Req.Target)) {
	case "/down":
		x.Forward("127.0.0.1:1")
	default:
		x.SetRequestBody([]byte("replaced body"))
		x.SetTarget([]byte("/sha"))
		x.Forward(h.upstream)
	}
}

func (h replacingHandler) UpstreamFailed(x *Exchange, status int, msg string) {
	x.Respond(status, "", []Field{{"Content-Type", "text/plain"}, {"Content-Length", "999"}}, []byte("custom: "+msg))
}

func TestReplacedBodyAndFailureHandler(t *testing.T) {
	b := newBackend(t)
	s := startProxy(t, replacingHandler{upstream: b.Listener.Addr().String()}, Config{})
	base := "http://" + s.Addr().String()
	c := &http.Client{}
	for i, body := range []string{"", "short", strings.Repeat("long client body ", 20000)} {
		resp, err := c.Post(base+"/x", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha256.Sum256([]byte("replaced body"))
		if want := fmt.Sprintf("13 %x", sum); string(got) != want {
			t.Fatalf("case %d: backend saw %q", i, got)
		}
	}
	st, body, hdr := get(t, c, base+"/down")
	if st != 502 || body != "custom: Backend service unreachable" || hdr.Get("Content-Length") != "35" {
		t.Fatalf("failure handler: %d %q %v", st, body, hdr)
	}
}

// TestEarlyAnswerDrainsBody: an answer sent before the request body is read
// (here the handler's own) is followed by reading and dropping the rest of
// the body, so the client gets the answer (no reset) and keeps its connection.
func TestEarlyAnswerDrainsBody(t *testing.T) {
	b := newBackend(t)
	s := startProxy(t, &testHandler{upstream: b.Listener.Addr().String()}, Config{})
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	base := "http://" + s.Addr().String()
	for i := 0; i < 3; i++ {
		resp, err := c.Post(base+"/direct", "application/octet-stream", strings.NewReader(strings.Repeat("x", 2<<20)))
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != "direct answer" {
			t.Fatalf("upload %d: %d %q", i, resp.StatusCode, got)
		}
	}
	if n := s.Conns(); n != 1 {
		t.Errorf("%d client connections, want the one kept alive", n)
	}
}

// reforwarder sends every request twice: on the first response head it asks
// for the request to be forwarded again (a retry policy).
type reforwarder struct {
	upstream string
	seen     map[*Exchange]bool
}

func (h *reforwarder) Serve(x *Exchange) {
	x.Req.Own()
	h.seen[x] = false
	x.Forward(h.upstream)
}

func (h *reforwarder) Response(x *Exchange) {
	if !h.seen[x] {
		h.seen[x] = true
		x.Forward(h.upstream)
	}
}

func TestForwardAgain(t *testing.T) {
	b := newBackend(t)
	h := &reforwarder{upstream: b.Listener.Addr().String(), seen: map[*Exchange]bool{}}
	s := startProxy(t, h, Config{Loops: 1})
	base := "http://" + s.Addr().String()
	st, body, _ := get(t, http.DefaultClient, base+"/again")
	if st != 200 || body != `{"path":"/again"}` || b.reqs.Load() != 2 {
		t.Fatalf("GET forwarded again: %d %q, backend saw %d requests", st, body, b.reqs.Load())
	}
	// A streamed body cannot be sent twice: 502 saying so.
	resp, err := http.Post(base+"/sha", "text/plain", strings.NewReader("streamed"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(string(got), "cannot be sent to the backend again") {
		t.Fatalf("POST forwarded again: %d %s", resp.StatusCode, got)
	}
}
