package importer

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestParseOpenAPIResponses: responses, media types and examples become ARM
// responses; what ARM cannot hold is skipped with a warning.
func TestParseOpenAPIResponses(t *testing.T) {
	spec := `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /things:
    get:
      parameters:
        - {name: sort, in: query, schema: {type: string, enum: [asc, desc]}}
        - {name: X-Tenant, in: header, required: true, schema: {type: string}}
        - {name: session, in: cookie, schema: {type: string}}
      responses:
        "200":
          description: ok
          headers:
            X-Rate: {required: true, schema: {type: integer}}
            X-Mode: {$ref: "#/components/headers/Mode"}
          content:
            application/xml:
              example: "<things/>"
            application/json:
              schema: {type: array}
              examples:
                two: {$ref: "#/components/examples/Two"}
                far: {externalValue: "https://example.com/far.json"}
        "404": {$ref: "#/components/responses/NotFound"}
        "2XX": {description: range}
        default: {description: error}
components:
  examples:
    Two: {summary: two things, value: [{id: 1}, {id: 2}]}
  responses:
    NotFound: {description: not found}
  headers:
    Mode: {description: speed, schema: {type: string, enum: [fast, slow]}}
`
	api, err := ParseOpenAPI("t.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(OperationBody(api.Operations[0]).(props)["properties"].(props)["responses"])
	want := `[{"statusCode":200,"description":"ok","representations":[` +
		`{"contentType":"application/json","examples":{"two":{"summary":"two things","value":[{"id":1},{"id":2}]}},"schemaId":"openapi","typeName":"get-thingsResponse200"},` +
		`{"contentType":"application/xml","examples":{"default":{"value":"\u003cthings/\u003e"}}}],` +
		`"headers":[{"name":"X-Mode","type":"string","required":false,"description":"speed","values":["fast","slow"]},{"name":"X-Rate","type":"integer","required":true}]},` +
		`{"statusCode":404,"description":"not found","representations":[]}]`
	if string(got) != want {
		t.Errorf("responses\n got %s\nwant %s", got, want)
	}
	req, _ := json.Marshal(api.Operations[0].Request)
	if want := `{"queryParameters":[{"name":"sort","type":"string","required":false,"values":["asc","desc"]}],"headers":[{"name":"X-Tenant","type":"string","required":true}]}`; string(req) != want {
		t.Errorf("request\n got %s\nwant %s", req, want)
	}
	w := strings.Join(api.Warnings, "\n")
	for _, s := range []string{"responses.2XX: not imported", "responses.default: not imported", "externalValue https://example.com/far.json is not fetched", `cookie parameter "session" not imported`} {
		if !strings.Contains(w, s) {
			t.Errorf("warnings %q lack %q", w, s)
		}
	}
}
