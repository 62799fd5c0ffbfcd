package appliance

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/apimgw/apimgw/netstack"
	"github.com/apimgw/apimgw/policy"
)

// Calls that policies make (send-request, send-one-way-request) run off the
// event loop on a bounded pool of workers: the exchange is suspended, a worker
// makes the call with net/http, and the exchange resumes on its loop with the
// response. The loop never waits, so unrelated requests on it keep their
// latency however slow the called services are.

// DefaultCallWorkers is the size of the call worker pool when
// Handler.CallWorkers is 0; DefaultCallQueue bounds the calls waiting for a
// worker. A call that finds the queue full fails at once.
const (
	DefaultCallWorkers = 64
	DefaultCallQueue   = 4096
)

// ErrCallQueueFull fails a call when every worker is busy and the queue is full.
var ErrCallQueueFull = errors.New("appliance: too many send-request calls in flight")

type callPool struct {
	once   sync.Once
	jobs   chan func()
	client *http.Client
	certs  certClients // per client certificate (client_cert.go)
	tokens struct {
		once sync.Once
		src  *TokenSource
	}
}

func (h *Handler) calls() *callPool {
	p := &h.callPool
	p.once.Do(func() {
		n, q := h.CallWorkers, DefaultCallQueue
		if n <= 0 {
			n = DefaultCallWorkers
		}
		p.jobs = make(chan func(), q)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil // send-request goes where the document says
		tr.MaxIdleConnsPerHost = 16
		p.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for i := 0; i < n; i++ {
			go func() {
				for job := range p.jobs {
					job()
				}
			}()
		}
	})
	return p
}

// submit queues job for a worker; false if the queue is full.
func (p *callPool) submit(job func()) bool {
	select {
	case p.jobs <- job:
		return true
	default:
		return false
	}
}

// do makes one call, reading at most limit response body bytes; https
// targets are checked against roots (the backends' trust: system roots,
// backend.tls.ca, the snapshot's trusted CAs; nil: system roots).
func (p *callPool) do(call *policy.HTTPCall, limit int, roots *x509.CertPool) (*policy.CallResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), call.Timeout)
	defer cancel()
	var body io.Reader
	if len(call.Body) > 0 {
		body = bytes.NewReader(call.Body)
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, call.URL, body)
	if err != nil {
		return nil, err
	}
	for _, f := range call.Headers {
		if http.CanonicalHeaderKey(f.Name) == "Host" {
			req.Host = f.Value
			continue
		}
		req.Header.Add(f.Name, f.Value)
	}
	resp, err := p.clientFor(roots, call.ClientCert).Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s to %s timed out after %s", call.Policy, call.URL, call.Timeout)
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s: the response body is larger than %d bytes", call.Policy, limit)
	}
	out := &policy.CallResponse{StatusCode: resp.StatusCode, Body: data}
	if len(resp.Status) > 4 {
		out.Reason = resp.Status[4:]
	}
	for name, vals := range resp.Header {
		for _, v := range vals {
			out.Headers = append(out.Headers, policy.Header{Name: name, Value: v})
		}
	}
	return out, nil
}

// cloneCall copies a call's strings and body: they may point into the
// connection's request head and buffers, which the loop reuses while the
// worker (and net/http's writer) still read them.
func cloneCall(c *policy.HTTPCall) *policy.HTTPCall {
	out := &policy.HTTPCall{Method: strings.Clone(c.Method), URL: strings.Clone(c.URL), Body: bytes.Clone(c.Body),
		Timeout: c.Timeout, OneWay: c.OneWay, Policy: c.Policy, Headers: make([]policy.Header, len(c.Headers)), ClientCert: c.ClientCert}
	if c.Token != nil {
		out.Token = &policy.TokenRequest{Resource: strings.Clone(c.Token.Resource), ClientID: strings.Clone(c.Token.ClientID)}
	}
	for i, f := range c.Headers {
		out.Headers[i] = policy.Header{Name: strings.Clone(f.Name), Value: strings.Clone(f.Value)}
	}
	return out
}

// startOneWay starts a send-one-way-request call (a full queue drops it).
func (h *Handler) startOneWay(call *policy.HTTPCall, trust *backendTrust) {
	p, limit := h.calls(), h.bodyLimit()
	call = cloneCall(call)
	p.submit(func() { p.do(call, limit, trust.roots()) })
}

// call makes the pipeline's call off the loop and continues with next (the
// request-phase or the response-phase result handler) once it is done. A
// one-way call is started and the pipeline goes on at once.
func (h *Handler) call(x *netstack.Exchange, st *reqState, res policy.Result, next func(*netstack.Exchange, *reqState, policy.Result)) {
	if res.Call.Cache != nil {
		h.cacheLookup(x, st, res.Call.Cache, next) // external_cache.go
		return
	}
	p, call, limit := h.calls(), cloneCall(res.Call), h.bodyLimit()
	if call.Token != nil {
		h.token(x, st, call, next)
		return
	}
	if call.OneWay {
		h.startOneWay(call, st.cfg.trust)
		st.pc.CallDone(nil, nil)
		next(x, st, st.pl.Resume(st.pc))
		return
	}
	x.Suspend()
	pc, trust := st.pc, st.cfg.trust
	ok := p.submit(func() {
		resp, err := p.do(call, limit, trust.roots())
		x.Resume(func(x *netstack.Exchange) {
			pc.CallDone(resp, err)
			next(x, st, st.pl.Resume(pc))
		})
	})
	if !ok {
		pc.CallDone(nil, ErrCallQueueFull)
		x.Resume(func(x *netstack.Exchange) { next(x, st, st.pl.Resume(pc)) })
	}
}

// token fetches the managed-identity token the pipeline asked for
// (authentication-managed-identity) on a call worker and resumes with it.
func (h *Handler) token(x *netstack.Exchange, st *reqState, call *policy.HTTPCall, next func(*netstack.Exchange, *reqState, policy.Result)) {
	p, src := h.calls(), h.tokenSource()
	x.Suspend()
	pc := st.pc
	ok := p.submit(func() {
		ctx, cancel := context.WithTimeout(context.Background(), call.Timeout)
		tok, err := src.Token(ctx, *call.Token)
		cancel()
		x.Resume(func(x *netstack.Exchange) {
			pc.TokenDone(tok, err)
			next(x, st, st.pl.Resume(pc))
		})
	})
	if !ok {
		pc.TokenDone(policy.Token{}, ErrCallQueueFull)
		x.Resume(func(x *netstack.Exchange) { next(x, st, st.pl.Resume(pc)) })
	}
}

// tokenSource is Handler.Tokens, or the default (Azure IMDS) made once.
func (h *Handler) tokenSource() *TokenSource {
	if h.Tokens != nil {
		return h.Tokens
	}
	t := &h.callPool.tokens
	t.once.Do(func() { t.src, _ = NewTokenSource(IdentityConfig{}) })
	return t.src
}
