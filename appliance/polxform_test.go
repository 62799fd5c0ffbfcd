package appliance

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/wire"
)

// TestBodyConversionsThroughTheHandler: json-to-xml and xml-to-json on the
// request and on the response, through the real handler and engine to a real
// backend: the converted bytes arrive with the new Content-Type and a
// Content-Length that matches them; a body that does not parse ends in
// on-error.
func TestBodyConversionsThroughTheHandler(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case strings.HasSuffix(r.URL.Path, "/soap"):
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			io.WriteString(w, `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><r><v>1</v><v>2</v></r></soap:Body></soap:Envelope>`)
		case strings.HasSuffix(r.URL.Path, "/broken"):
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"unterminated":`)
		case strings.HasSuffix(r.URL.Path, "/echo"):
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(r.Header.Get("Content-Type") + " " + string(body)))
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"firstName":"John","isAlive":true,"children":[]}`)
		}
	}))
	t.Cleanup(backend.Close)
	pol := func(inbound, outbound string) string {
		return `<policies><inbound><base/>` + inbound + `</inbound><backend><base/></backend><outbound><base/>` + outbound +
			`</outbound><on-error><set-header name="X-Err" exists-action="override"><value>@(context.LastError.Source + "|" + context.LastError.Reason)</value></set-header></on-error></policies>`
	}
	j2x := `<json-to-xml apply="content-type-json" consider-accept-header="false"/>`
	ops := []wire.Operation{
		{ID: "j2x", Method: "GET", URLTemplate: "/person", Policy: pol("", j2x)},
		{ID: "j2x-accept", Method: "GET", URLTemplate: "/person-accept", Policy: pol("", `<json-to-xml apply="always"/>`)},
		{ID: "x2j", Method: "GET", URLTemplate: "/soap", Policy: pol("", `<xml-to-json kind="direct" apply="content-type-xml" consider-accept-header="false"/>`)},
		{ID: "broken", Method: "GET", URLTemplate: "/broken", Policy: pol("", j2x)},
		{ID: "req", Method: "POST", URLTemplate: "/echo", Policy: pol(j2x, "")},
	}
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "c", Path: "c", ServiceURL: backend.URL, Protocols: []string{"http"}, Operations: ops}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, snap)

	cases := []struct {
		name, method, path, body, accept string
		status                           int
		contentType, want, errHdr        string
	}{
		{"json-to-xml on the response", "GET", "/person", "", "", 200, "application/xml",
			`<Document><firstName>John</firstName><isAlive>True</isAlive><children /></Document>`, ""},
		{"json-to-xml waits for Accept", "GET", "/person-accept", "", "application/json", 200, "application/json",
			`{"firstName":"John","isAlive":true,"children":[]}`, ""},
		{"json-to-xml with Accept: application/xml", "GET", "/person-accept", "", "application/xml", 200, "application/xml",
			`<Document><firstName>John</firstName><isAlive>True</isAlive><children /></Document>`, ""},
		{"xml-to-json on the response", "GET", "/soap", "", "", 200, "application/json",
			`{"version":"1.0","soap$Envelope":{"@xmlns$soap":"http://schemas.xmlsoap.org/soap/envelope/","soap$Body":{"r":{"v":["1","2"]}}}}`, ""},
		{"json-to-xml on a broken body", "GET", "/broken", "", "", 500, "", "", "json-to-xml|BodyConversionFailure"},
		{"json-to-xml on the request", "POST", "/echo", `{"order":{"id":7}}`, "", 200, "text/plain",
			`application/xml <order><id>7</id></order>`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, g.base+"/c"+tc.path, strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading the body (framing wrong?): %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s; X-Err %q)", resp.StatusCode, tc.status, body, resp.Header.Get("X-Err"))
			}
			if tc.errHdr != "" {
				if got := resp.Header.Get("X-Err"); got != tc.errHdr {
					t.Errorf("X-Err %q, want %q", got, tc.errHdr)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if string(body) != tc.want {
				t.Errorf("body %s, want %s", body, tc.want)
			}
			if resp.ContentLength >= 0 && resp.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
			}
		})
	}
}

// TestMockResponseThroughTheHandler: mock-response answers with the
// operation's documented example from the snapshot, without calling the
// backend.
func TestMockResponseThroughTheHandler(t *testing.T) {
	hits := 0
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	t.Cleanup(backend.Close)
	responses := []wire.OperationResponse{
		{StatusCode: 200, Representations: []wire.Representation{
			{ContentType: "application/json", Example: `{"id":42}`, ExampleName: "default"},
			{ContentType: "application/xml", Example: `<id>42</id>`, ExampleName: "default"}}},
		{StatusCode: 404, Representations: []wire.Representation{{ContentType: "application/problem+json", Example: `{"title":"gone"}`}}},
	}
	mock := func(attrs string) string {
		return `<policies><inbound><base/><mock-response ` + attrs + `/></inbound><backend><base/></backend><outbound><base/></outbound></policies>`
	}
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "m", Path: "m", ServiceURL: backend.URL, Protocols: []string{"http"},
			Policy: `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/></outbound></policies>`,
			Operations: []wire.Operation{
				{ID: "first", Method: "GET", URLTemplate: "/first", Policy: mock(""), Responses: responses},
				{ID: "xml", Method: "GET", URLTemplate: "/xml", Policy: mock(`content-type="application/xml"`), Responses: responses},
				{ID: "gone", Method: "GET", URLTemplate: "/gone", Policy: mock(`status-code="404"`), Responses: responses},
				{ID: "none", Method: "GET", URLTemplate: "/none", Policy: mock(`content-type="text/plain"`)},
			}}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, snap)
	for _, tc := range []struct {
		path   string
		status int
		ct     string
		body   string
	}{
		{"/first", 200, "application/json", `{"id":42}`},
		{"/xml", 200, "application/xml", `<id>42</id>`},
		{"/gone", 404, "application/problem+json", `{"title":"gone"}`},
		{"/none", 200, "text/plain", ``},
	} {
		status, hdr, body := call(t, "GET", g.base+"/m"+tc.path, nil)
		if status != tc.status || hdr.Get("Content-Type") != tc.ct || body != tc.body {
			t.Errorf("%s: %d %q %q, want %d %q %q", tc.path, status, hdr.Get("Content-Type"), body, tc.status, tc.ct, tc.body)
		}
	}
	if hits != 0 {
		t.Errorf("the backend was called %d times", hits)
	}
}

// TestValidateStatusCodeThroughTheHandler: the operation's documented
// responses from the snapshot decide; an undocumented backend status is
// replaced by 502 without the backend's body.
func TestValidateStatusCodeThroughTheHandler(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := 200
		if strings.HasSuffix(r.URL.Path, "/boom") {
			code = 500
		}
		w.WriteHeader(code)
		io.WriteString(w, "stack trace of the backend")
	}))
	t.Cleanup(backend.Close)
	pol := `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/><validate-status-code unspecified-status-code-action="prevent"/></outbound><on-error><base/></on-error></policies>`
	responses := []wire.OperationResponse{{StatusCode: 200, Representations: []wire.Representation{{ContentType: "text/plain"}}}}
	snap := getPairSnap(t, "v", backend.URL, pol, responses, "ok", "boom")
	g := startGateway(t, snap)
	if status, _, body := call(t, "GET", g.base+"/v/ok", nil); status != 200 || body != "stack trace of the backend" {
		t.Errorf("documented 200: %d %q", status, body)
	}
	status, _, body := call(t, "GET", g.base+"/v/boom", nil)
	if status != 502 || strings.Contains(body, "stack trace") || !strings.Contains(body, "The request could not be processed due to an internal error. Contact the API owner.") {
		t.Errorf("undocumented 500: %d %q", status, body)
	}
}

// TestValidateHeadersThroughTheHandler: documented response headers from the
// snapshot; an undocumented one is refused with 502 before it reaches the
// client.
func TestValidateHeadersThroughTheHandler(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Rate", "5")
		if strings.HasSuffix(r.URL.Path, "/leak") {
			w.Header().Set("X-Internal-Host", "db-7")
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	pol := `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/>` +
		`<validate-headers specified-header-action="prevent" unspecified-header-action="prevent"><header name="Content-Type" action="ignore"/><header name="Content-Length" action="ignore"/><header name="Date" action="ignore"/></validate-headers>` +
		`</outbound><on-error><base/></on-error></policies>`
	responses := []wire.OperationResponse{{StatusCode: 200, Headers: []wire.TemplateParameter{{Name: "X-Rate", Type: "integer", Required: true}}}}
	snap := getPairSnap(t, "h", backend.URL, pol, responses, "ok", "leak")
	g := startGateway(t, snap)
	if status, hdr, body := call(t, "GET", g.base+"/h/ok", nil); status != 200 || body != "ok" || hdr.Get("X-Rate") != "5" {
		t.Errorf("documented headers: %d %q %v", status, body, hdr)
	}
	status, hdr, body := call(t, "GET", g.base+"/h/leak", nil)
	if status != 502 || hdr.Get("X-Internal-Host") != "" || !strings.Contains(body, "The request could not be processed due to an internal error. Contact the API owner.") || strings.Contains(body, "X-Internal-Host") {
		t.Errorf("undocumented header: %d %q %v", status, body, hdr)
	}
}

// TestValidateParametersThroughTheHandler: template and documented query
// parameters from the snapshot; a bad one is answered 400 and never reaches
// the backend.
func TestValidateParametersThroughTheHandler(t *testing.T) {
	hits := 0
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++; io.WriteString(w, "ok") }))
	t.Cleanup(backend.Close)
	pol := `<policies><inbound><base/><validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent"><headers unspecified-parameter-action="ignore"/></validate-parameters></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: "p", Path: "p", ServiceURL: backend.URL, Protocols: []string{"http"}, Operations: []wire.Operation{
			{ID: "item", Method: "GET", URLTemplate: "/items/{id}", TemplateParameters: []wire.TemplateParameter{{Name: "id", Type: "integer", Required: true}},
				Policy: pol, Request: &wire.OperationRequest{QueryParameters: []wire.TemplateParameter{{Name: "sort", Values: []string{"asc", "desc"}}}}},
		}}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, snap)
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/items/7?sort=asc", 200, "ok"},
		{"/items/seven", 400, `Value of the path parameter id does not conform to the definition.\n\n\"seven\": it is not of type integer.`},
		{"/items/7?sort=up", 400, `Value of the query parameter sort does not conform to the definition.\n\n\"up\": it is not one of asc, desc.`},
		{"/items/7?debug=1", 400, `Unspecified query parameter debug is not allowed.`},
	} {
		status, _, body := call(t, "GET", g.base+"/p"+tc.path, nil)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d %s", tc.path, status, body, tc.status, tc.want)
		}
	}
	if hits != 1 {
		t.Errorf("the backend was called %d times, want 1", hits)
	}
}

// getPairSnap is a sealed snapshot of one API, id at path id on backend, with
// two GET operations a and b (at /a and /b) under the same policy and
// documented responses.
func getPairSnap(t *testing.T, id, backend, pol string, responses []wire.OperationResponse, a, b string) *wire.Snapshot {
	t.Helper()
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Version: 1,
		APIs: []wire.API{{ID: id, Path: id, ServiceURL: backend, Protocols: []string{"http"}, Operations: []wire.Operation{
			{ID: a, Method: "GET", URLTemplate: "/" + a, Policy: pol, Responses: responses},
			{ID: b, Method: "GET", URLTemplate: "/" + b, Policy: pol, Responses: responses},
		}}}}
	if err := snap.Seal(); err != nil {
		t.Fatal(err)
	}
	return snap
}
