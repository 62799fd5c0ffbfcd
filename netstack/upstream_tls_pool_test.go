package netstack

import (
	"crypto/tls"
	"io"
	"net/http"
	"sync"
	"testing"
)

// TestUpstreamTLSPoolUnderLoad: concurrent clients reuse pooled TLS
// connections: far fewer handshakes than requests.
func TestUpstreamTLSPoolUnderLoad(t *testing.T) {
	ca := newTestCA(t)
	b, conns := tlsBackend(t, ca.leaf(t, "backend.test"), true, 0)
	h := &tlsHandler{}
	h.up.Store(NewUpstreamTLS(b.Listener.Addr().String(), &tls.Config{ServerName: "backend.test", RootCAs: ca.pool}))
	s := startProxy(t, h, Config{})
	base := "http://" + s.Addr().String()
	const clients, each = 16, 50
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for j := 0; j < each; j++ {
				resp, err := c.Get(base + "/hello")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if n := conns.Load(); n > 2*clients {
		t.Errorf("%d requests from %d clients made %d backend connections (want at most %d)", clients*each, clients, n, 2*clients)
	}
}
