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
