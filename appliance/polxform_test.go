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
