package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestManagedIdentity: the token is asked for with a Call (HTTPCall.Token),
// set as a Bearer header (or into output-token-variable-name), cached until
// shortly before it expires, the last good token kept while the endpoint
// fails, and a failure without a token goes to on-error (or on, with
// ignore-error).
func TestManagedIdentity(t *testing.T) {
	clk := newClock()
	st := NewState(clk.now)
	pl := compilePipeline(t, Options{State: st}, op(`<policies><inbound>
  <authentication-managed-identity resource="@("https://vault." + "azure.net")" client-id="c-1"/>
</inbound></policies>`))
	run := func(answer func(r *TokenRequest) (Token, error)) (*Context, Result, int) {
		c := newCtx("GET", "/")
		r := pl.Run(c, Inbound)
		calls := 0
		for r.Outcome == Call {
			calls++
			if r.Call.Token == nil || r.Call.Policy != "authentication-managed-identity" || r.Call.Timeout != tokenTimeout {
				t.Fatalf("call: %+v", r.Call)
			}
			c.TokenDone(answer(r.Call.Token))
			r = pl.Resume(c)
		}
		return c, r, calls
	}
	issued := 0
	good := func(r *TokenRequest) (Token, error) {
		if r.Resource != "https://vault.azure.net" || r.ClientID != "c-1" {
			t.Fatalf("request %+v", r)
		}
		issued++
		return Token{AccessToken: "tok" + string(rune('0'+issued)), ExpiresOn: clk.now().Add(time.Hour)}, nil
	}
	down := func(*TokenRequest) (Token, error) { return Token{}, errors.New("connection refused") }

	c, r, calls := run(good)
	if h, _ := c.Request.Headers.Get("Authorization"); r.Outcome != Continue || calls != 1 || h != "Bearer tok1" {
		t.Fatalf("first: %v calls=%d %q", r, calls, h)
	}
	clk.add(50 * time.Minute) // cached: no call
	if c, _, calls = run(good); calls != 0 {
		t.Fatalf("cached: %d calls", calls)
	} else if h, _ := c.Request.Headers.Get("Authorization"); h != "Bearer tok1" {
		t.Fatalf("cached header %q", h)
	}
	clk.add(6 * time.Minute) // 4 minutes left: refresh, which fails: the held token is used
	if c, r, calls = run(down); calls != 1 || r.Outcome != Continue {
		t.Fatalf("refresh failure: %v %d", r, calls)
	} else if h, _ := c.Request.Headers.Get("Authorization"); h != "Bearer tok1" {
		t.Fatalf("last good %q", h)
	}
	clk.add(10 * time.Second) // within tokenRetry: no new attempt
	if _, _, calls = run(down); calls != 0 {
		t.Fatalf("retry too soon: %d calls", calls)
	}
	clk.add(tokenRetry) // the next attempt succeeds
	if c, _, calls = run(good); calls != 1 {
		t.Fatalf("refresh: %d", calls)
	} else if h, _ := c.Request.Headers.Get("Authorization"); h != "Bearer tok2" {
		t.Fatalf("refreshed %q", h)
	}
	clk.add(2 * time.Hour) // expired and the endpoint is down: on-error
	c, r, _ = run(down)
	if r.Outcome != Fail || c.LastError.Source != "authentication-managed-identity" || !errors.Is(r.Err, ErrCall) ||
		!strings.Contains(lastErrorMessage(c.LastError), "Unable to obtain a managed identity access token for resource 'https://vault.azure.net': connection refused") {
		t.Fatalf("failure: %v %+v", r, c.LastError)
	}

	// output-token-variable-name: the variable, not the header; ignore-error.
	pl = compilePipeline(t, Options{State: NewState(clk.now)}, op(`<policies><inbound>
  <authentication-managed-identity resource="https://storage.azure.com/" output-token-variable-name="msi" ignore-error="true"/>
</inbound></policies>`))
	c, r, _ = run(func(*TokenRequest) (Token, error) {
		return Token{AccessToken: "abc", ExpiresOn: clk.now().Add(time.Hour)}, nil
	})
	if v, _ := c.Variable("msi"); v.String() != "abc" || c.Request.Headers.Has("Authorization") {
		t.Fatalf("variable %v", v)
	}
	pl = compilePipeline(t, Options{State: NewState(clk.now)}, op(`<policies><inbound>
  <authentication-managed-identity resource="r" ignore-error="true"/>
</inbound></policies>`))
	if c, r, _ = run(down); r.Outcome != Continue || c.Request.Headers.Has("Authorization") {
		t.Fatalf("ignore-error: %v", r)
	}
}

// TestManagedIdentityInSendRequest: the child asks for the token first, then
// the call goes out with it; a cached token makes one call only.
func TestManagedIdentityInSendRequest(t *testing.T) {
	clk := newClock()
	pl := compilePipeline(t, Options{State: NewState(clk.now)}, op(`<policies><inbound>
  <send-request mode="new" response-variable-name="kv" timeout="20">
    <set-url>https://kv.test/secrets/s</set-url>
    <authentication-managed-identity resource="https://vault.azure.net" />
  </send-request>
</inbound></policies>`))
	for round, wantToken := range []bool{true, false} {
		c := newCtx("GET", "/")
		r := pl.Run(c, Inbound)
		if wantToken {
			if r.Outcome != Call || r.Call.Token == nil {
				t.Fatalf("round %d: %v", round, r)
			}
			c.TokenDone(Token{AccessToken: "T", ExpiresOn: clk.now().Add(time.Hour)}, nil)
			r = pl.Resume(c)
		}
		if r.Outcome != Call || r.Call.Token != nil || r.Call.URL != "https://kv.test/secrets/s" {
			t.Fatalf("round %d: call %v %+v", round, r, r.Call)
		}
		if h := (&Headers{List: r.Call.Headers}); !h.Has("Authorization") {
			t.Fatalf("round %d: no Authorization on %+v", round, r.Call.Headers)
		} else if v, _ := h.Get("Authorization"); v != "Bearer T" {
			t.Fatalf("round %d: %q", round, v)
		}
		c.CallDone(&CallResponse{StatusCode: 200}, nil)
		if r = pl.Resume(c); r.Outcome != Continue {
			t.Fatalf("round %d: end %v", round, r)
		}
	}
	// No token: the send-request fails with the managed identity's Source.
	pl = compilePipeline(t, Options{State: NewState(clk.now)}, op(`<policies><inbound>
  <send-request response-variable-name="kv"><set-url>https://kv.test/</set-url><authentication-managed-identity resource="x"/></send-request>
</inbound></policies>`))
	c := newCtx("GET", "/")
	r := pl.Run(c, Inbound)
	c.TokenDone(Token{}, errors.New("no route to host"))
	if r = pl.Resume(c); r.Outcome != Fail || c.LastError.Source != "authentication-managed-identity" {
		t.Fatalf("failure: %v %+v", r, c.LastError)
	}
}

// TestLastErrorPathAndPolicyID: context.LastError.Path is the failing
// policy's place below its section and PolicyId its id attribute, which
// every policy accepts.
func TestLastErrorPathAndPolicyID(t *testing.T) {
	pl := compilePipeline(t, Options{}, op(`<policies><inbound>
  <set-variable name="a" value="1" id="first"/>
  <choose>
    <when condition="@(false)"/>
    <when condition="@(true)">
      <set-variable name="ok" value="2"/>
      <set-variable name="b" value="@(((string)null).Length)" id="boom"/>
    </when>
  </choose>
</inbound>
<on-error>
  <return-response><set-body>@(context.LastError.Source + "|" + context.LastError.Path + "|" + context.LastError.PolicyId + "|" + context.LastError.Section)</set-body></return-response>
</on-error></policies>`))
	c := newCtx("GET", "/")
	if r := pl.Run(c, Inbound); r.Outcome != Fail {
		t.Fatalf("%v", r)
	}
	pl.Run(c, OnError)
	if got := string(c.Response.Body); got != "set-variable|choose[1]/when[2]/set-variable[2]|boom|inbound" {
		t.Fatalf("LastError: %q", got)
	}
}
