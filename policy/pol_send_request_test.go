package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSendRequest(t *testing.T) {
	pl := compilePipeline(t, Options{}, op(`<policies><inbound>
  <send-request mode="new" response-variable-name="tok" timeout="5" ignore-error="false">
    <set-url>@("https://idp.test/token?for=" + context.Request.Method)</set-url>
    <set-method>POST</set-method>
    <set-header name="Content-Type" exists-action="override"><value>application/x-www-form-urlencoded</value></set-header>
    <set-body>grant_type=client_credentials</set-body>
  </send-request>
  <send-request mode="copy" response-variable-name="copied" ignore-error="true"/>
  <send-one-way-request mode="new"><set-url>http://log.test/</set-url><set-method>PUT</set-method></send-one-way-request>
</inbound></policies>`))
	c := newCtx("GET", "/items", "Accept", "text/plain")
	r := pl.Run(c, Inbound)
	if r.Outcome != Call || r.Call == nil {
		t.Fatalf("first: %v", r)
	}
	k := r.Call
	if k.Method != "POST" || k.URL != "https://idp.test/token?for=GET" || string(k.Body) != "grant_type=client_credentials" ||
		k.Timeout != 5*time.Second || len(k.Headers) != 1 || k.Headers[0].Value != "application/x-www-form-urlencoded" || k.OneWay {
		t.Fatalf("call: %+v", k)
	}
	c.CallDone(&CallResponse{StatusCode: 200, Headers: []Header{{"Content-Type", "application/json"}}, Body: []byte(`{"access_token":"t"}`)}, nil)
	r = pl.Resume(c)
	if r.Outcome != Call || r.Call.Method != "GET" || r.Call.URL != "http://backend.test/items" || len(r.Call.Headers) != 1 {
		t.Fatalf("copy: %v %+v", r, r.Call)
	}
	v, _ := c.Variable("tok")
	if st, _, _, body, ok := AsResponse(v); !ok || st != 200 || string(body) != `{"access_token":"t"}` {
		t.Fatalf("tok: %v %v %q", ok, st, body)
	}
	c.CallDone(nil, errors.New("connection refused"))
	r = pl.Resume(c)
	if v, ok := c.Variable("copied"); !ok || !v.IsNull() {
		t.Fatalf("ignore-error: variable %v %v", v, ok)
	}
	if r.Outcome != Call || !r.Call.OneWay || r.Call.Method != "PUT" {
		t.Fatalf("one-way: %v %+v", r, r.Call)
	}
	c.CallDone(nil, nil)
	if r = pl.Resume(c); r.Outcome != Continue {
		t.Fatalf("end: %v", r)
	}

	// A failed call without ignore-error fails the policy into on-error.
	pl = compilePipeline(t, Options{}, op(`<policies><inbound><send-request response-variable-name="x"><set-url>http://down.test/</set-url></send-request></inbound></policies>`))
	c = newCtx("GET", "/")
	if r = pl.Run(c, Inbound); r.Outcome != Call || r.Call.Method != "GET" {
		t.Fatalf("default method: %v", r)
	}
	c.CallDone(nil, errors.New("dial tcp: connection refused"))
	r = pl.Resume(c)
	if r.Outcome != Fail || !errors.Is(r.Err, ErrCall) || c.LastError.Source != "send-request" {
		t.Fatalf("failed call: %v %v", r, c.LastError)
	}
}

func TestSendRequestCompileErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`<send-request response-variable-name="x"/>`, "<set-url> is required"},
		{`<send-request><set-url>http://a/</set-url></send-request>`, `attribute "response-variable-name" is required`},
		{`<send-request response-variable-name="x" mode="clone"><set-url>http://a/</set-url></send-request>`, `"clone" is not one of new, copy`},
		{`<send-request response-variable-name="x" colour="red"><set-url>http://a/</set-url></send-request>`, `attribute "colour" is not supported`},
		{`<send-request response-variable-name="x"><set-url>http://a/</set-url><authentication-managed-identity resource="r" output-token-variable-name="t"/></send-request>`, "output-token-variable-name is not allowed here"},
		{`<send-request response-variable-name="x"><set-url>http://a/</set-url><authentication-managed-identity/></send-request>`, `attribute "resource" is required`},
		{`<send-request response-variable-name="x"><set-url>http://a/</set-url><authentication-certificate/></send-request>`, `one of the attributes "thumbprint", "certificate-id" or "body" is required`},
		{`<send-request response-variable-name="x"><set-url>http://a/</set-url><proxy url="http://p"/></send-request>`, "<proxy> inside <send-request> is not supported"},
		{`<send-one-way-request response-variable-name="x"><set-url>http://a/</set-url></send-one-way-request>`, `attribute "response-variable-name" is not supported`},
	} {
		err := Check(Options{Offline: true}, "d.xml", []byte("<policies><inbound>"+c.doc+"</inbound></policies>"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.doc, err, c.want)
		}
	}
}
