package netstack

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// suspendingFailure answers a failed upstream off the loop: UpstreamFailed
// suspends the exchange and a goroutine resumes it with the answer (what an
// on-error send-request does).
type suspendingFailure struct{}

func (suspendingFailure) Serve(x *Exchange) { x.Forward("127.0.0.1:1") }

func (suspendingFailure) UpstreamFailed(x *Exchange, status int, msg string) {
	x.Suspend()
	go func() {
		time.Sleep(5 * time.Millisecond)
		x.Resume(func(x *Exchange) {
			x.Respond(503, "", []Field{{"Content-Type", "text/plain"}}, []byte("later: "+msg))
		})
	}()
}

// TestUpstreamFailedMaySuspend: the answer comes on Resume, with a request
// body drained, and the connection serves the next request.
func TestUpstreamFailedMaySuspend(t *testing.T) {
	s := startProxy(t, suspendingFailure{}, Config{})
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	base := "http://" + s.Addr().String()
	for i, body := range []string{"", strings.Repeat("b", 100000)} {
		resp, err := c.Post(base+"/x", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 || string(got) != "later: Backend service unreachable" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, got)
		}
	}
	if n := s.Conns(); n != 1 {
		t.Errorf("%d client connections, want the one kept alive", n)
	}
}
