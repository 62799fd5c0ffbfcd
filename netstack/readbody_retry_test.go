package netstack

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// retryingHandler buffers every response body and sends the request again
// while the backend's answer is not the one it waits for, as a retry policy
// around a body-reading outbound does.
type retryingHandler struct {
	upstream string
	tries    sync.Map // *Exchange → int: forwards of the request in flight
}

func (h *retryingHandler) Serve(x *Exchange) {
	x.Req.Own() // it may be sent again
	h.tries.Store(x, 1)
	x.Forward(h.upstream)
}

func (h *retryingHandler) Response(x *Exchange) {
	x.ReadResponseBody(1<<20, func(x *Exchange, body []byte, tooLarge bool) {
		n, _ := h.tries.Load(x)
		if !tooLarge && !strings.HasSuffix(string(body), "ready") && n.(int) < 3 {
			h.tries.Store(x, n.(int)+1)
			x.Forward(h.upstream)
			return
		}
		h.tries.Delete(x)
		x.Respond(200, "", nil, append([]byte(nil), body...))
	})
}

// TestReadResponseBodyAfterRetry: the body a handler gets after sending a
// request again is the second response's alone — not the first one's with
// the second appended (the buffer was not emptied between forwards) — and a
// copy the handler kept of the first stays intact.
func TestReadResponseBodyAfterRetry(t *testing.T) {
	var calls atomic.Int64
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if n%2 == 1 {
			io.WriteString(w, strings.Repeat("b", 70<<10)+" busy") // over keepSmall's 64 KiB too
			return
		}
		fmt.Fprintf(w, "call %d ready", n)
	}))
	t.Cleanup(be.Close)
	s := startProxy(t, &retryingHandler{upstream: be.Listener.Addr().String()}, Config{})
	for i := 1; i <= 3; i++ {
		resp, err := http.Get("http://" + s.Addr().String() + "/x")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("call %d ready", 2*i); resp.StatusCode != 200 || string(got) != want {
			t.Fatalf("request %d: %d, %d bytes ending %q; want %q", i, resp.StatusCode, len(got), got[max(0, len(got)-20):], want)
		}
	}
}
