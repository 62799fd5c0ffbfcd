package appliance

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/apimgw/apimgw/wire"
)

// BenchmarkBufferedBody: a 256 KiB request body over loopback through an
// operation whose policies read it (find-and-replace in inbound: buffered)
// and through one without policies (streamed). The bytes and allocations per
// request include the test upstream's (it keeps what it reads).
func BenchmarkBufferedBody(b *testing.B) {
	b.Run("buffered", func(b *testing.B) {
		benchBody(b, `<policies><inbound><find-and-replace from="cat" to="dog"/></inbound></policies>`)
	})
	b.Run("streamed", func(b *testing.B) { benchBody(b, "") })
}

func benchBody(b *testing.B, pol string) {
	s := testSnapshot(rawUpstream(b))
	s.APIs[0].ServiceURL = rawUpstream(b)
	s.APIs[0].Policy = ""
	s.APIs[0].Operations = append(s.APIs[0].Operations, wire.Operation{ID: "post", Method: "POST", URLTemplate: "/body",
		Policy: pol})
	s.Seal()
	g := startGateway(b, s)
	g.h.OnDone = nil
	c, err := net.Dial("tcp", g.base[len("http://"):])
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	body := bytes.Repeat([]byte("a cat sat on the mat. "), (256<<10)/22)
	req := append([]byte("POST /hybrid/body HTTP/1.1\r\nHost: bench.local\r\nOcp-Apim-Subscription-Key: "+testKey+
		"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"), body...)
	r := bufio.NewReaderSize(c, 4096)
	var resp [17]byte
	roundTrip := func() {
		c.Write(req)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 2 {
				break
			}
			if bytes.HasPrefix(line, []byte("HTTP/1.1 ")) && !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
				b.Fatalf("status: %s", line)
			}
		}
		if _, err := io.ReadFull(r, resp[:]); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		roundTrip()
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip()
	}
}
