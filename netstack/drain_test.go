package netstack

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"
)

// answerEarly answers every request at once (before its body is read) and
// reports each finished exchange.
type answerEarly struct{ done chan int }

func (h answerEarly) Serve(x *Exchange) { x.RespondError(401, "no") }
func (h answerEarly) Done(x *Exchange)  { h.done <- x.Status }

// TestEarlyAnswerDrainsChunkedEnd: a request answered before its chunked
// body was read ends (Done) as soon as the whole body is in and dropped —
// also when the last chunk's size line and the empty trailer section arrive
// in the same read (the drain used to stop between them and wait for bytes
// that never came; an HTTP/2 stream's exchange then ended only with its
// connection).
func TestEarlyAnswerDrainsChunkedEnd(t *testing.T) {
	h := answerEarly{done: make(chan int, 4)}
	s := startProxy(t, h, Config{Loops: 1})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("response: %v %v", resp, err)
	}
	select {
	case st := <-h.done:
		if st != 401 {
			t.Errorf("Done saw status %d", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the exchange did not end while the connection stayed open")
	}
}
