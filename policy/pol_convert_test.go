package policy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// convertDoc is a document that converts the backend's response.
func convertDoc(policy string) docs {
	return op(`<policies><inbound/><backend><forward-request/></backend><outbound>` + policy + `</outbound>` +
		`<on-error><set-header name="X-Err" exists-action="override"><value>@(context.LastError.Source + "|" + context.LastError.Reason + "|" + context.LastError.Message)</value></set-header></on-error></policies>`)
}

// runConvert drives one request whose backend answers body with contentType.
func runConvert(t *testing.T, d docs, body []byte, contentType string, reqHeaders ...string) (*Context, trip) {
	t.Helper()
	p := compilePipeline(t, Options{}, d)
	if !p.ReadsResponseBody() {
		t.Fatal("a conversion in outbound must make the pipeline buffer the response body")
	}
	c := newCtx("GET", "/x", reqHeaders...)
	tr := drive(t, p, c, func(c *Context) {
		c.Response.Headers.Set("Content-Type", contentType)
		c.Response.Body, c.Response.BodyBuffered = body, true
	})
	return c, tr
}

// TestConvertGolden: Microsoft's documented json-to-xml example and the
// observed APIM outputs of json-to-xml and xml-to-json (docs/policies.md
// cites them), plus edge cases, against golden files in testdata/convert
// (go test -run TestConvertGolden -update rewrites them).
func TestConvertGolden(t *testing.T) {
	cases := []struct{ in, golden, policy string }{
		{"ms-soap-envelope.json", "ms-soap-envelope.xml.golden",
			`<json-to-xml apply="always" consider-accept-header="false" parse-date="false" namespace-separator=":" namespace-prefix="xmlns" attribute-block-name="#attrs" />`},
		{"person.json", "person.xml.golden", `<json-to-xml apply="always" consider-accept-header="false" />`},
		{"edge.json", "edge.xml.golden", `<json-to-xml apply="always" consider-accept-header="false" />`},
		{"edge.json", "edge-no-dates.xml.golden", `<json-to-xml apply="always" consider-accept-header="false" parse-date="false" />`},
		{"top-array.json", "top-array.xml.golden", `<json-to-xml apply="always" consider-accept-header="false" />`},
		{"soap-orders.xml", "soap-orders.json.golden", `<xml-to-json kind="direct" apply="always" consider-accept-header="false" />`},
		{"soap-orders.xml", "soap-orders-js.json.golden", `<xml-to-json kind="javascript-friendly" apply="always" consider-accept-header="false" />`},
		{"catalog.xml", "catalog.json.golden", `<xml-to-json kind="direct" apply="always" consider-accept-header="false" />`},
		{"catalog.xml", "catalog-arrays.json.golden", `<xml-to-json kind="direct" apply="always" consider-accept-header="false" always-array-child-elements="true" />`},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "convert", tc.in))
			if err != nil {
				t.Fatal(err)
			}
			c, tr := runConvert(t, convertDoc(tc.policy), in, "text/plain")
			if tr.answered != Continue {
				t.Fatalf("outcome %v, X-Err %q", tr.answered, hdr(&c.Response.Headers, "X-Err"))
			}
			got := c.Response.Body
			wantCT := "application/xml"
			if strings.HasSuffix(tc.golden, ".json.golden") {
				wantCT = "application/json"
				var v any
				if err := json.Unmarshal(got, &v); err != nil {
					t.Fatalf("output is not JSON: %v\n%s", err, got)
				}
				var ind bytes.Buffer
				json.Indent(&ind, got, "", "  ")
				got = append(ind.Bytes(), '\n')
			} else {
				if err := wellFormed(got); err != nil {
					t.Fatalf("output is not well-formed XML: %v\n%s", err, got)
				}
				got = append(got, '\n')
			}
			if ct := hdr(&c.Response.Headers, "Content-Type"); ct != wantCT || !c.Response.BodySet {
				t.Errorf("Content-Type %q BodySet %v, want %q and true", ct, c.Response.BodySet, wantCT)
			}
			path := filepath.Join("testdata", "convert", tc.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// TestConvertConditions: apply, consider-accept-header, the request target,
// expressions in attributes, empty bodies and bodies that do not parse.
func TestConvertConditions(t *testing.T) {
	j2x := func(attrs string) docs { return convertDoc(`<json-to-xml ` + attrs + ` />`) }
	x2j := func(attrs string) docs { return convertDoc(`<xml-to-json kind="direct" ` + attrs + ` />`) }
	jsonBody, xmlBody := []byte(`{"a":1}`), []byte(`<a>1</a>`)
	cases := []struct {
		name    string
		d       docs
		body    []byte
		ct      string
		hdrs    []string
		want    string // response body after the outbound section
		wantErr string // X-Err set by on-error
	}{
		{"json-to-xml content-type-json converts JSON", j2x(`apply="content-type-json" consider-accept-header="false"`), jsonBody, "application/json; charset=utf-8", nil, `<a>1</a>`, ""},
		{"json-to-xml content-type-json converts +json", j2x(`apply="content-type-json" consider-accept-header="false"`), jsonBody, "application/problem+json", nil, `<a>1</a>`, ""},
		{"json-to-xml content-type-json leaves text", j2x(`apply="content-type-json" consider-accept-header="false"`), jsonBody, "text/plain", nil, `{"a":1}`, ""},
		{"json-to-xml accept xml", j2x(`apply="always"`), jsonBody, "application/json", []string{"Accept", "text/html, application/xml;q=0.9"}, `<a>1</a>`, ""},
		{"json-to-xml accept default true, no Accept", j2x(`apply="always"`), jsonBody, "application/json", nil, `{"a":1}`, ""},
		{"json-to-xml accept */* is not a request for XML", j2x(`apply="always"`), jsonBody, "application/json", []string{"Accept", "*/*"}, `{"a":1}`, ""},
		{"json-to-xml expressions", j2x(`apply="@(&quot;always&quot;)" consider-accept-header="@(false)" attribute-block-name="@(&quot;$a&quot;)"`),
			[]byte(`{"r":{"$a":{"k":"v"},"c":"d"}}`), "application/json", nil, `<r k="v"><c>d</c></r>`, ""},
		{"json-to-xml bad expression value", j2x(`apply="@(&quot;sometimes&quot;)" consider-accept-header="false"`), jsonBody, "application/json", nil, "",
			"json-to-xml|ExpressionValueEvaluationFailure|"},
		{"json-to-xml invalid JSON", j2x(`apply="always" consider-accept-header="false"`), []byte(`{"a":`), "application/json", nil, "",
			"json-to-xml|BodyConversionFailure|policy: body conversion: the body is not JSON"},
		{"json-to-xml two JSON values", j2x(`apply="always" consider-accept-header="false"`), []byte(`{} {}`), "application/json", nil, "",
			"json-to-xml|BodyConversionFailure|policy: body conversion: the body holds more than one JSON value"},
		{"json-to-xml empty body", j2x(`apply="always" consider-accept-header="false"`), nil, "application/json", nil, ``, ""},
		{"xml-to-json content-type-xml converts soap+xml", x2j(`apply="content-type-xml" consider-accept-header="false"`), xmlBody, "application/soap+xml", nil, `{"a":"1"}`, ""},
		{"xml-to-json content-type-xml leaves JSON", x2j(`apply="content-type-xml" consider-accept-header="false"`), xmlBody, "application/json", nil, `<a>1</a>`, ""},
		{"xml-to-json accept json", x2j(`apply="always"`), xmlBody, "text/xml", []string{"Accept", "application/json"}, `{"a":"1"}`, ""},
		{"xml-to-json accept xml only", x2j(`apply="always" consider-accept-header="true"`), xmlBody, "text/xml", []string{"Accept", "text/xml"}, `<a>1</a>`, ""},
		{"xml-to-json invalid XML", x2j(`apply="always" consider-accept-header="false"`), []byte(`<a><b></a>`), "text/xml", nil, "",
			"xml-to-json|BodyConversionFailure|policy: body conversion: the body is not XML"},
		{"xml-to-json two roots", x2j(`apply="always" consider-accept-header="false"`), []byte(`<a/><b/>`), "text/xml", nil, "",
			"xml-to-json|BodyConversionFailure|policy: body conversion: the body is not XML: more than one root element"},
		{"xml-to-json always-array expression", x2j(`apply="always" consider-accept-header="false" always-array-child-elements="@(true)"`), []byte(`<r><c>1</c></r>`), "text/xml", nil, `{"r":{"c":["1"]}}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, tr := runConvert(t, tc.d, tc.body, tc.ct, tc.hdrs...)
			if tc.wantErr != "" {
				if !tr.onError || !strings.HasPrefix(hdr(&c.Response.Headers, "X-Err"), tc.wantErr) {
					t.Fatalf("on-error %v X-Err %q, want prefix %q", tr.onError, hdr(&c.Response.Headers, "X-Err"), tc.wantErr)
				}
				return
			}
			if tr.answered != Continue {
				t.Fatalf("outcome %v, X-Err %q", tr.answered, hdr(&c.Response.Headers, "X-Err"))
			}
			if string(c.Response.Body) != tc.want {
				t.Errorf("body %q, want %q", c.Response.Body, tc.want)
			}
		})
	}
}

// TestConvertRequest: inbound converts the request body and its Content-Type.
func TestConvertRequest(t *testing.T) {
	p := compilePipeline(t, Options{}, op(`<policies><inbound><json-to-xml apply="content-type-json" consider-accept-header="false"/></inbound><backend><forward-request/></backend></policies>`))
	if !p.ReadsRequestBody() || p.ReadsResponseBody() {
		t.Fatalf("inbound json-to-xml: reads request %v response %v, want true false", p.ReadsRequestBody(), p.ReadsResponseBody())
	}
	c := newCtx("POST", "/x", "Content-Type", "application/json")
	c.Request.Body, c.Request.Buffered = []byte(`{"order":{"id":7,"lines":[{"sku":"a"},{"sku":"b"}]}}`), true
	var sent string
	drive(t, p, c, func(c *Context) { sent = string(c.Request.Body) + " " + hdr(&c.Request.Headers, "Content-Type") })
	if want := `<order><id>7</id><lines><sku>a</sku></lines><lines><sku>b</sku></lines></order> application/xml`; sent != want {
		t.Errorf("backend got %q, want %q", sent, want)
	}
}

// TestConvertCompileErrors: every refusal names the element and attribute.
func TestConvertCompileErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`<outbound><json-to-xml consider-accept-header="false"/></outbound>`, `attribute "apply" is required`},
		{`<outbound><json-to-xml apply="sometimes"/></outbound>`, `attribute "apply": "sometimes" is not one of always, content-type-json`},
		{`<outbound><json-to-xml apply="always" parse-date="@(true)"/></outbound>`, `attribute "parse-date" does not accept an expression here`},
		{`<outbound><json-to-xml apply="always" pretty="true"/></outbound>`, `pretty`},
		{`<backend><json-to-xml apply="always"/></backend>`, `json-to-xml`},
		{`<outbound><xml-to-json apply="always"/></outbound>`, `attribute "kind" is required`},
		{`<outbound><xml-to-json kind="friendly" apply="always"/></outbound>`, `attribute "kind": "friendly" is not one of javascript-friendly, direct`},
		{`<outbound><xml-to-json kind="direct" apply="content-type-json"/></outbound>`, `is not one of always, content-type-xml`},
		{`<outbound><xml-to-json kind="direct" apply="always">text</xml-to-json></outbound>`, `xml-to-json`},
	}
	for _, tc := range cases {
		_, err := NewCompiler(Options{}).Compile(ScopeOperation, Source{Name: "op.xml", XML: []byte(`<policies>` + tc.doc + `</policies>`)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.doc, err, tc.want)
		}
		if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: error %v is neither ErrInvalid nor ErrUnsupported", tc.doc, err)
		}
	}
}

// FuzzJSONToXML: whatever JSON comes in, the output is well-formed XML or a
// conversion error.
func FuzzJSONToXML(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,[2]]`, `{"x:y":{"xmlns:x":"u","@a":"b","#text":"t"}}`, `{"1 2":null,"_x0041_":true}`, `"s"`} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, ns bool) {
		o := &jsonToXMLOptions{parseDate: true, nsSeparator: "_"}
		if ns {
			o.nsSeparator, o.nsPrefix, o.attributeBlock = ":", "xmlns", "#attrs"
		}
		out, err := jsonToXML(in, o)
		if err != nil {
			if !errors.Is(err, errConvert) {
				t.Fatalf("error %v does not wrap errConvert", err)
			}
			return
		}
		if err := wellFormed(out); err != nil {
			t.Fatalf("not well-formed: %v\nin: %q\nout: %q", err, in, out)
		}
	})
}

// FuzzXMLToJSON: whatever XML comes in, the output is JSON or a conversion
// error.
func FuzzXMLToJSON(f *testing.F) {
	for _, s := range []string{`<a>1</a>`, `<?xml version="1.0"?><s:E xmlns:s="u"><b x="1">t<c/>u</b></s:E>`, `<a><b/><b>2</b></a>`} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, always bool) {
		out, err := xmlToJSON(in, always)
		if err != nil {
			if !errors.Is(err, errConvert) {
				t.Fatalf("error %v does not wrap errConvert", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("not JSON\nin: %q\nout: %q", in, out)
		}
	})
}
