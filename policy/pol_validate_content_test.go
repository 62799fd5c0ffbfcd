package policy

import (
	"errors"
	"strings"
	"testing"
)

const petsComponents = `{"components":{"schemas":{
	"Pet":{"type":"object","required":["name"],"properties":{
		"name":{"type":"string","minLength":1},
		"age":{"type":"integer","minimum":0},
		"tag":{"type":"string","nullable":true},
		"owner":{"$ref":"#/components/schemas/Owner"}}},
	"Owner":{"type":"object","additionalProperties":false,"properties":{"email":{"type":"string","format":"email"}}}}}}`

func petSchemas(t *testing.T) *SchemaSet {
	t.Helper()
	if err := CheckAPISchema(SchemaOpenAPI, []byte(petsComponents)); err != nil {
		t.Fatal(err)
	}
	global := []APISchema{{ID: "address", ContentType: SchemaJSON, Document: []byte(`{"value":"{\"type\":\"object\",\"required\":[\"city\"],\"properties\":{\"city\":{\"type\":\"string\"}}}"}`)}}
	return NewSchemaSet([]APISchema{{ID: "pets", ContentType: SchemaOpenAPI, Document: []byte(petsComponents)}}, global)
}

// TestValidateContent: a request body against the operation's representation
// schema (schemaId/typeName) and against schema-id/schema-ref; size limit,
// unspecified content type, content-type-map, the overrides; prevent answers
// 400 with APIM's public message and on-error sees the details.
func TestValidateContent(t *testing.T) {
	set := petSchemas(t)
	rp := &RequestParams{Representations: []ContentDef{{ContentType: "application/json", SchemaID: "pets", TypeName: "Pet"}}}
	onError := `<on-error><set-header name="X-Err" exists-action="override"><value>@(context.LastError.Source + "|" + context.LastError.Reason + "|" + context.LastError.Message)</value></set-header></on-error>`
	doc := func(v string) docs {
		return op(`<policies><inbound>` + v + `<set-header name="X-Errors" exists-action="override"><value>@(context.Variables.ContainsKey("errs") ? JsonConvert.SerializeObject(context.Variables["errs"]) : "unset")</value></set-header></inbound><backend><forward-request/></backend>` + onError + `</policies>`)
	}
	vc := func(attrs, inner string) string {
		return `<validate-content unspecified-content-type-action="prevent" max-size="1024" size-exceeded-action="prevent" errors-variable-name="errs"` + attrs + `>` + inner + `</validate-content>`
	}
	const jsonPrevent = `<content type="application/json" validate-as="json" action="prevent"/>`
	cases := []struct {
		name, policy, ct, body string
		wantErr                string // X-Err prefix; "" = passes
		wantBody               string // the client's body when wantErr is set
		wantErrors             string // in X-Errors when it passes
	}{
		{"valid", vc("", jsonPrevent), "application/json", `{"name":"rex","age":3,"owner":{"email":"a@b.example"}}`, "", "", `[]`},
		{"valid with charset and nullable", vc("", jsonPrevent), "Application/JSON; charset=utf-8", `{"name":"rex","tag":null}`, "", "", `[]`},
		{"missing required", vc("", jsonPrevent), "application/json", `{"age":3}`,
			"validate-content|Bad request|Body of the request does not conform to the definition Pet, which is associated with the content type application/json. missing property 'name' Path: /",
			`"message":"Body of the request does not conform to the definition Pet`, ""},
		{"wrong type", vc("", jsonPrevent), "application/json", `{"name":"rex","age":"three"}`,
			"validate-content|Bad request|Body of the request does not conform to the definition Pet, which is associated with the content type application/json. got string, want integer Path: /age", "", ""},
		{"format and referenced schema", vc("", jsonPrevent), "application/json", `{"name":"rex","owner":{"email":"nope"}}`,
			"validate-content|Bad request|Body of the request does not conform to the definition Pet", "", ""},
		{"not JSON", vc("", jsonPrevent), "application/json", `{"name":`,
			"validate-content|Bad request|Body of the request does not conform to the definition Pet, which is associated with the content type application/json. The body is not valid JSON", "", ""},
		{"detect goes on", vc("", `<content type="application/json" validate-as="json" action="detect"/>`), "application/json", `{"age":-1}`, "", "",
			`"Type":"RequestBody","ValidationRule":"IncorrectMessage"`},
		{"ignore", vc("", `<content type="application/json" validate-as="json" action="ignore"/>`), "application/json", `{"age":-1}`, "", "", `[]`},
		{"size limit", vc("", jsonPrevent), "application/json", `{"name":"` + strings.Repeat("x", 2000) + `"}`,
			"validate-content|Bad request|Request's body is 2011 bytes long and it exceeds the configured limit of 1024 bytes.",
			`"message":"Request's body is 2011 bytes long and it exceeds the limit of 1024 bytes."`, ""},
		{"unspecified content type", vc("", jsonPrevent), "text/plain", `hello`,
			"validate-content|Bad request|Unspecified content type text/plain is not allowed.", "", ""},
		{"unspecified detected", strings.Replace(vc("", jsonPrevent), `unspecified-content-type-action="prevent"`, `unspecified-content-type-action="detect"`, 1), "text/plain", `hello`, "", "",
			`[{"Name":"text/plain","Type":"RequestBody","ValidationRule":"Unspecified","Details":"Unspecified content type text/plain is not allowed.","Action":"detect"}]`},
		{"missing content type mapped", vc("", `<content-type-map missing-content-type-value="application/json"/>`+jsonPrevent), "", `{"age":1}`,
			"validate-content|Bad request|Body of the request does not conform to the definition Pet", "", ""},
		{"type from mapped", vc("", `<content-type-map><type from="application/hal+json" to="application/json"/></content-type-map>`+jsonPrevent), "application/hal+json", `{"name":"rex"}`, "", "", `[]`},
		{"type when mapped", vc("", `<content-type-map><type when="@(context.Request.Headers.GetValueOrDefault(&quot;Content-Type&quot;,&quot;&quot;).EndsWith(&quot;+json&quot;))" to="application/json"/></content-type-map>`+jsonPrevent), "application/vnd.x+json", `{"age":1}`,
			"validate-content|Bad request|Body of the request", "", ""},
		{"content without type applies to documented types", vc("", `<content validate-as="json" action="prevent"/>`), "application/json", `{"age":1}`,
			"validate-content|Bad request|Body of the request", "", ""},
		{"schema-id and schema-ref", vc("", `<content type="application/json" validate-as="json" action="prevent" schema-id="pets" schema-ref="#/components/schemas/Owner"/>`), "application/json", `{"email":"a@b.example","x":1}`,
			"validate-content|Bad request|Body of the request does not conform to the definition #/components/schemas/Owner", "", ""},
		{"allow-additional-properties true overrides the schema", vc("", `<content type="application/json" validate-as="json" action="prevent" schema-id="pets" schema-ref="#/components/schemas/Owner" allow-additional-properties="true"/>`), "application/json", `{"email":"a@b.example","x":1}`, "", "", `[]`},
		{"allow-additional-properties false", vc("", `<content type="application/json" validate-as="json" action="prevent" allow-additional-properties="false"/>`), "application/json", `{"name":"rex","color":"brown"}`,
			"validate-content|Bad request|Body of the request does not conform to the definition Pet", "", ""},
		{"case-sensitive names by default", vc("", jsonPrevent), "application/json", `{"NAME":"rex"}`,
			"validate-content|Bad request|Body of the request", "", ""},
		{"case-insensitive-property-names", vc("", `<content type="application/json" validate-as="json" action="prevent" case-insensitive-property-names="true"/>`), "application/json", `{"NAME":"rex","Age":2}`, "", "", `[]`},
		{"missing definition", vc("", `<content type="application/json" validate-as="json" action="prevent" schema-id="pets" schema-ref="#/components/schemas/Nope"/>`), "application/json", `{}`,
			"validate-content|Bad request|API's schema does not contain definition #/components/schemas/Nope, which is associated with the content type application/json.",
			`"message":"The request could not be processed due to an internal error. Contact the API owner."`, ""},
		{"service-level schema-id, the whole document", vc("", `<content type="application/json" validate-as="json" action="prevent" schema-id="address"/>`), "application/json", `{"street":"x"}`,
			"validate-content|Bad request|Body of the request does not conform to the definition address, which is associated with the content type application/json. missing property 'city' Path: /", "", ""},
		{"service-level schema-id, valid", vc("", `<content type="application/json" validate-as="json" action="prevent" schema-id="address"/>`), "application/json", `{"city":"Berlin"}`, "", "", `[]`},
		{"unknown schema", vc("", `<content type="application/json" validate-as="json" action="prevent" schema-id="nope"/>`), "application/json", `{}`,
			"validate-content|Bad request|API's schema does not exist or it could not be resolved", "", ""},
		{"empty body without content type is not checked", vc("", jsonPrevent), "", ``, "", "", `[]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := compilePipeline(t, Options{}, doc(tc.policy))
			if !p.ReadsRequestBody() {
				t.Fatal("validate-content does not buffer the request body")
			}
			p.SetRequestParameters(rp)
			p.SetContentSchemas(set)
			var hs []string
			if tc.ct != "" {
				hs = []string{"Content-Type", tc.ct}
			}
			c := newCtx("POST", "/pets", hs...)
			c.Request.Body, c.Request.Buffered = []byte(tc.body), true
			tr := drive(t, p, c, nil)
			if tc.wantErr != "" {
				if !tr.onError || !strings.HasPrefix(hdr(&c.Response.Headers, "X-Err"), tc.wantErr) || c.Response.StatusCode != 400 || tr.forwards != 0 {
					t.Fatalf("on-error %v status %d forwards %d\nX-Err %q\nwant  %q", tr.onError, c.Response.StatusCode, tr.forwards, hdr(&c.Response.Headers, "X-Err"), tc.wantErr)
				}
				if tc.wantBody != "" && !strings.Contains(string(c.Response.Body), tc.wantBody) {
					t.Errorf("body %s, want it to contain %s", c.Response.Body, tc.wantBody)
				}
				return
			}
			if tr.onError {
				t.Fatalf("on-error ran: %q", hdr(&c.Response.Headers, "X-Err"))
			}
			if got := hdr(&c.Request.Headers, "X-Errors"); !strings.Contains(got, tc.wantErrors) {
				t.Errorf("errors variable %s, want it to contain %s", got, tc.wantErrors)
			}
		})
	}
}

// TestValidateContentResponse: outbound validation against the documented
// response's schema for its status code; prevent gives 502 with APIM's
// internal-error message, the details in context.LastError.
func TestValidateContentResponse(t *testing.T) {
	set := petSchemas(t)
	ex := []ResponseExample{{StatusCode: 200, ContentType: "application/json", SchemaID: "pets", TypeName: "Pet"}}
	p := compilePipeline(t, Options{}, op(`<policies><inbound/><backend><forward-request/></backend><outbound>
		<validate-content unspecified-content-type-action="prevent" max-size="4096" size-exceeded-action="prevent">
			<content type="application/json" validate-as="json" action="prevent"/>
		</validate-content></outbound>
		<on-error><set-header name="X-Err" exists-action="override"><value>@(context.LastError.Reason + "|" + context.LastError.Message)</value></set-header></on-error></policies>`))
	if !p.ReadsResponseBody() {
		t.Fatal("validate-content does not buffer the response body")
	}
	p.SetResponseExamples(ex)
	p.SetContentSchemas(set)
	for _, tc := range []struct {
		name, body string
		status     int
		wantStatus int
		wantErr    string
	}{
		{"valid", `{"name":"rex"}`, 200, 200, ""},
		{"invalid", `{"name":7}`, 200, 502, "Response not allowed|Body of the response does not conform to the definition Pet, which is associated with the content type application/json. got number, want string Path: /name"},
		{"undocumented status is unspecified", `{"name":"rex"}`, 201, 502, "Response not allowed|Unspecified content type application/json is not allowed."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCtx("GET", "/pets/1")
			tr := drive(t, p, c, func(c *Context) {
				c.Response.StatusCode = tc.status
				c.Response.Headers.Set("Content-Type", "application/json")
				c.Response.Body, c.Response.BodyBuffered = []byte(tc.body), true
			})
			if c.Response.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (X-Err %q)", c.Response.StatusCode, tc.wantStatus, hdr(&c.Response.Headers, "X-Err"))
			}
			if tc.wantErr == "" {
				if tr.onError {
					t.Fatalf("on-error ran: %q", hdr(&c.Response.Headers, "X-Err"))
				}
				return
			}
			if got := hdr(&c.Response.Headers, "X-Err"); got != tc.wantErr {
				t.Errorf("X-Err %q\nwant   %q", got, tc.wantErr)
			}
			if want := `{"statusCode":502,"message":"The request could not be processed due to an internal error. Contact the API owner."}`; string(c.Response.Body) != want {
				t.Errorf("body %s, want %s", c.Response.Body, want)
			}
		})
	}
}

// TestValidateContentRefusals: what cannot run is a compile error naming the
// element and attribute.
func TestValidateContentRefusals(t *testing.T) {
	const head = `<validate-content unspecified-content-type-action="prevent" max-size="100" size-exceeded-action="prevent">`
	for _, bad := range []struct{ doc, want string }{
		{head + `<content type="application/xml" validate-as="xml" action="prevent"/></validate-content>`, `attribute "validate-as": "xml" (validation against an XML schema, XSD) is not supported`},
		{head + `<content type="text/xml" validate-as="soap" action="prevent"/></validate-content>`, `"soap" (validation against an XML schema, XSD) is not supported`},
		{head + `<content type="application/json" validate-as="yaml" action="prevent"/></validate-content>`, `"yaml" is not one of json, xml, soap`},
		{head + `<content type="application/json" validate-as="json"/></validate-content>`, `attribute "action" is required`},
		{head + `<content type="application/json" action="prevent"/></validate-content>`, `attribute "validate-as" is required`},
		{head + `<content type="application/json" validate-as="json" action="prevent" schema-ref="#/x"/></validate-content>`, `"schema-ref" needs "schema-id"`},
		{head + `<content type="application/json" validate-as="json" action="prevent"/><content type="application/json" validate-as="json" action="detect"/></validate-content>`, `two <content> elements`},
		{head + `<content type="application/json" validate-as="json" action="prevent" strict="true"/></validate-content>`, `strict`},
		{head + `<content-type-map><type to="application/json"/></content-type-map></validate-content>`, `exactly one of the attributes "from" and "when"`},
		{head + `<schema/></validate-content>`, `<schema> is not allowed`},
		{`<validate-content unspecified-content-type-action="prevent" size-exceeded-action="prevent"/>`, `attribute "max-size" is required`},
		{`<validate-content unspecified-content-type-action="prevent" max-size="9999999999" size-exceeded-action="prevent"/>`, `"max-size"`},
		{`<validate-content max-size="10" size-exceeded-action="prevent"/>`, `attribute "unspecified-content-type-action" is required`},
		{`<validate-content unspecified-content-type-action="block" max-size="10" size-exceeded-action="prevent"/>`, `"block" is not one of ignore, prevent, detect`},
	} {
		_, err := NewCompiler(Options{}).Compile(ScopeOperation, Source{Name: "op.xml", XML: []byte(`<policies><inbound>` + bad.doc + `</inbound></policies>`)})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s:\n%v\nwant %q", bad.doc, err, bad.want)
		}
	}
}

// TestCheckAPISchema: the control plane's check of schema documents.
func TestCheckAPISchema(t *testing.T) {
	for _, tc := range []struct{ ct, doc, want string }{
		{SchemaOpenAPI, petsComponents, ""},
		{SchemaSwagger, `{"definitions":{"A":{"type":"object","properties":{"b":{"$ref":"#/definitions/B"}}},"B":{"type":"integer","exclusiveMinimum":true,"minimum":0}}}`, ""},
		{SchemaJSON, `{"value":"{\"type\":\"object\",\"required\":[\"a\"]}"}`, ""},
		{SchemaXSD, `{"value":"<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"/>"}`, ""},
		{"application/x-unknown", `{}`, `contentType "application/x-unknown" is not one of`},
		{SchemaOpenAPI, `{"definitions":{}}`, `document.components is required`},
		{SchemaOpenAPI, `{"components":{"schemas":[]}}`, `document.components.schemas must be a JSON object`},
		{SchemaOpenAPI, `{"components":{"schemas":{"Bad":{"type":"strin"}}}}`, `document.components.schemas.Bad:`},
		{SchemaOpenAPI, `{"components":{"schemas":{"Bad":{"$ref":"#/components/schemas/Gone"}}}}`, `document.components.schemas.Bad:`},
		{SchemaOpenAPI, `{"components":{"schemas":{"Remote":{"$ref":"file:///etc/passwd"}}}}`, `are not followed`},
		{SchemaSwagger, `{"definitions":{"Re":{"type":"string","pattern":"(?<=a)b"}}}`, `document.definitions.Re:`},
		{SchemaJSON, `{"value":"{nope"}`, `document.value is not JSON`},
		{SchemaXSD, `{}`, `document.value is required`},
	} {
		err := CheckAPISchema(tc.ct, []byte(tc.doc))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %s: %v", tc.ct, tc.doc, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrSchema) {
			t.Errorf("%s %s: %v, want %q", tc.ct, tc.doc, err, tc.want)
		}
	}
}

// BenchmarkValidateContent is one request through validate-content with a
// valid ~100-byte JSON body against an OpenAPI component with a $ref (the
// schema compiled once, before the loop, as per snapshot).
func BenchmarkValidateContent(b *testing.B) {
	set := NewSchemaSet([]APISchema{{ID: "pets", ContentType: SchemaOpenAPI, Document: []byte(petsComponents)}}, nil)
	p := compilePipeline(b, Options{}, op(`<policies><inbound><validate-content unspecified-content-type-action="prevent" max-size="4096" size-exceeded-action="prevent">
		<content type="application/json" validate-as="json" action="prevent"/></validate-content></inbound><backend><forward-request/></backend></policies>`))
	p.SetRequestParameters(&RequestParams{Representations: []ContentDef{{ContentType: "application/json", SchemaID: "pets", TypeName: "Pet"}}})
	p.SetContentSchemas(set)
	body := []byte(`{"name":"rex","age":3,"tag":"good dog","owner":{"email":"someone@example.com"}}`)
	c := newCtx("POST", "/pets", "Content-Type", "application/json")
	b.ReportAllocs()
	for b.Loop() {
		c.Request.Body, c.Request.Buffered = body, true
		c.LastError = nil
		if r := p.Run(c, Inbound); r.Outcome != Continue {
			b.Fatalf("outcome %v: %v", r.Outcome, r.Err)
		}
	}
}

// FuzzCheckAPISchema: any document either compiles or is refused with
// ErrSchema; nothing panics, no reference outside the document is followed.
func FuzzCheckAPISchema(f *testing.F) {
	f.Add(SchemaOpenAPI, petsComponents)
	f.Add(SchemaSwagger, `{"definitions":{"A":{"type":"object","properties":{"b":{"$ref":"#/definitions/B"}}},"B":{"type":"integer"}}}`)
	f.Add(SchemaJSON, `{"value":"{\"$ref\":\"#\"}"}`)
	f.Add(SchemaOpenAPI, `{"components":{"schemas":{"R":{"$ref":"http://127.0.0.1:1/x"}}}}`)
	f.Add(SchemaJSON, `{"value":"{\"pattern\":\"(\"}"}`)
	f.Fuzz(func(t *testing.T, ct, doc string) {
		if err := CheckAPISchema(ct, []byte(doc)); err != nil && !errors.Is(err, ErrSchema) {
			t.Fatalf("%v is not ErrSchema", err)
		}
	})
}

// FuzzValidateContentBody: any request body gets a verdict (pass or a
// validation error), never a panic or an internal error.
func FuzzValidateContentBody(f *testing.F) {
	set := NewSchemaSet([]APISchema{{ID: "pets", ContentType: SchemaOpenAPI, Document: []byte(petsComponents)}}, nil)
	cp := NewCompiler(Options{})
	pol, err := cp.Compile(ScopeOperation, Source{Name: "op.xml", XML: []byte(`<policies><inbound><validate-content unspecified-content-type-action="detect" max-size="4096" size-exceeded-action="detect" errors-variable-name="errs">
		<content type="application/json" validate-as="json" action="detect" case-insensitive-property-names="true"/></validate-content></inbound><backend><forward-request/></backend></policies>`)})
	if err != nil {
		f.Fatal(err)
	}
	p := cp.Link(nil, nil, nil, pol)
	p.SetRequestParameters(&RequestParams{Representations: []ContentDef{{ContentType: "application/json", SchemaID: "pets", TypeName: "Pet"}}})
	p.SetContentSchemas(set)
	for _, s := range []string{`{"name":"rex"}`, `{"NAME":1,"name":"x"}`, `[1,2`, `{"owner":{"email":"x"}}`, "\xff", `1e999`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		c := newCtx("POST", "/pets", "Content-Type", "application/json")
		c.Request.Body, c.Request.Buffered = []byte(body), true
		if r := p.Run(c, Inbound); r.Outcome != Forward && r.Outcome != Continue {
			t.Fatalf("outcome %v: %v", r.Outcome, r.Err)
		}
		if _, ok := c.Variable("errs"); !ok {
			t.Fatal("errors variable not set")
		}
	})
}

// TestValidateContentSchemaIDAnyStatus: a <content type schema-id> validates
// responses of every status code, documented or not.
func TestValidateContentSchemaIDAnyStatus(t *testing.T) {
	p := compilePipeline(t, Options{}, op(`<policies><inbound/><backend><forward-request/></backend><outbound>
		<validate-content unspecified-content-type-action="prevent" max-size="4096" size-exceeded-action="prevent">
			<content type="application/problem+json" validate-as="json" action="prevent" schema-id="address"/>
		</validate-content></outbound><on-error><set-header name="X-Err" exists-action="override"><value>@(context.LastError.Message)</value></set-header></on-error></policies>`))
	p.SetResponseExamples([]ResponseExample{{StatusCode: 200, ContentType: "application/json"}})
	p.SetContentSchemas(petSchemas(t))
	for _, tc := range []struct {
		status     int
		body       string
		wantStatus int
	}{{503, `{"city":"x"}`, 503}, {503, `{}`, 502}, {200, `{}`, 502}} {
		c := newCtx("GET", "/")
		drive(t, p, c, func(c *Context) {
			c.Response.StatusCode = tc.status
			c.Response.Headers.Set("Content-Type", "application/problem+json")
			c.Response.Body, c.Response.BodyBuffered = []byte(tc.body), true
		})
		if c.Response.StatusCode != tc.wantStatus {
			t.Errorf("%d %s: status %d, want %d (%s)", tc.status, tc.body, c.Response.StatusCode, tc.wantStatus, hdr(&c.Response.Headers, "X-Err"))
		}
	}
}
