package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testenv"
)

// TestValidateContentEndToEnd: the real apimcp, apimctl and apimgw. The
// corpus document petstore-expanded.json is imported with apimctl (its
// components.schemas become the API's schema, the representations name
// them), a second schema is PUT through the ARM API, a bad schema document
// is a 400 that stores nothing; then a request body violating the schema
// gets APIM's 400 from the gateway without reaching the backend, a valid
// one reaches it (200), and with action="detect" the violating request
// passes with the errors variable filled.
func TestValidateContentEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end with the real binaries")
	}
	bin := e2eBinaries(t)
	var mu sync.Mutex
	var backendSeen struct {
		calls  int
		errors string
	}
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		backendSeen.calls++
		backendSeen.errors = r.Header.Get("X-Validation-Errors")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1,"name":"rex"}`)
	}))
	defer be.Close()
	cp := startCP(t, bin)
	var gw *gwProc
	defer func() {
		if t.Failed() {
			t.Logf("apimcp log:\n%s", cp.log)
			if gw != nil {
				t.Logf("apimgw log:\n%s", gw.log)
			}
		}
	}()

	doc := filepath.Join(testenv.SharedDir(t, "corpus/openapi"), "petstore-expanded.json")
	cp.ctl("import", "openapi", doc, "--api", "pets", "--path", "pets", "--service-url", be.URL)
	cp.ctl("api", "update", "pets", "--subscription-required", "false")
	var schema struct {
		Properties struct {
			ContentType string `json:"contentType"`
			Document    struct {
				Components struct {
					Schemas map[string]any `json:"schemas"`
				} `json:"components"`
			} `json:"document"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(cp.ctl("-o", "json", "schema", "get", "openapi", "--api", "pets"), &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Properties.ContentType != "application/vnd.oai.openapi.components+json" || schema.Properties.Document.Components.Schemas["NewPet"] == nil {
		t.Fatalf("imported schema %+v", schema.Properties)
	}
	prevent := `<policies><inbound><base/>
		<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="prevent" errors-variable-name="errs">
			<content type="application/json" validate-as="json" action="prevent"/>
		</validate-content></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	cp.mustARM("PUT", "/apis/pets/operations/addPet/policies/policy", map[string]any{"properties": map[string]any{"format": "rawxml", "value": prevent}}, 200, 201)

	// A schema written through the ARM API, and an operation naming it.
	cp.mustARM("PUT", "/apis/pets/schemas/orders", map[string]any{"properties": map[string]any{
		"contentType": "application/vnd.ms-azure-apim.swagger.definitions+json",
		"document": map[string]any{"definitions": map[string]any{"Order": map[string]any{"type": "object", "required": []string{"qty"},
			"properties": map[string]any{"qty": map[string]any{"type": "integer", "minimum": 1}}}}}}}, 201)
	st, body := cp.arm("PUT", "/apis/pets/schemas/broken", map[string]any{"properties": map[string]any{
		"contentType": "application/vnd.ms-azure-apim.swagger.definitions+json",
		"document":    map[string]any{"definitions": map[string]any{"Bad": map[string]any{"type": "integr"}}}}})
	if st != 400 || !strings.Contains(string(body), "properties.document.definitions.Bad") {
		t.Fatalf("bad schema document: %d %s, want 400 naming properties.document.definitions.Bad", st, body)
	}
	if st, _ := cp.arm("GET", "/apis/pets/schemas/broken", nil); st != 404 {
		t.Fatalf("a refused schema was stored: GET %d", st)
	}
	cp.mustARM("PUT", "/apis/pets/operations/create-order", map[string]any{"properties": map[string]any{"method": "POST", "urlTemplate": "/orders",
		"request": map[string]any{"representations": []any{map[string]any{"contentType": "application/json", "schemaId": "orders", "typeName": "Order"}}}}}, 201)
	detect := `<policies><inbound><base/>
		<validate-content unspecified-content-type-action="prevent" max-size="1024" size-exceeded-action="prevent" errors-variable-name="errs">
			<content type="application/json" validate-as="json" action="detect"/>
		</validate-content>
		<set-header name="X-Validation-Errors" exists-action="override"><value>@(JsonConvert.SerializeObject(context.Variables["errs"]))</value></set-header>
		</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	cp.mustARM("PUT", "/apis/pets/operations/create-order/policies/policy", map[string]any{"properties": map[string]any{"format": "rawxml", "value": detect}}, 200, 201)

	// A service-level schema (/schemas) named by schema-id.
	cp.mustARM("PUT", "/schemas/address", map[string]any{"properties": map[string]any{"schemaType": "json",
		"document": map[string]any{"type": "object", "required": []string{"city"}, "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}, 201)
	cp.mustARM("PUT", "/apis/pets/operations/put-address", map[string]any{"properties": map[string]any{"method": "PUT", "urlTemplate": "/address"}}, 201)
	byID := strings.Replace(prevent, `action="prevent"/>`, `action="prevent" schema-id="address"/>`, 1)
	byID = strings.Replace(byID, `unspecified-content-type-action="prevent"`, `unspecified-content-type-action="ignore"`, 1)
	cp.mustARM("PUT", "/apis/pets/operations/put-address/policies/policy", map[string]any{"properties": map[string]any{"format": "rawxml", "value": byID}}, 200, 201)

	cp.mustARM("PUT", "/gateways/gw1", map[string]any{"properties": map[string]any{"locationData": map[string]any{"name": "schemas"}}}, 201)
	cp.mustARM("PUT", "/gateways/gw1/apis/pets", nil, 200, 201)
	var tok struct{ Value string }
	json.Unmarshal(cp.ctl("-o", "json", "gateway", "token", "gw1"), &tok)
	gw = newGW(t, bin, cp.URL, "gw1", tok.Value)
	gw.start()
	defer gw.stop(syscall.SIGTERM)
	gw.waitReady(20 * time.Second)

	type seenT = struct {
		calls  int
		errors string
	}
	var seen seenT
	send := func(method, path, ct, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, gw.data+path, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		mu.Lock()
		seen = backendSeen
		mu.Unlock()
		return resp.StatusCode, string(b)
	}
	post := func(path, ct, body string) (int, string) { t.Helper(); return send("POST", path, ct, body) }
	if st, b := post("/pets/pets", "application/json", `{"name":"rex","tag":"dog"}`); st != 200 || seen.calls != 1 {
		t.Fatalf("valid body: %d %s (backend calls %d), want 200", st, b, seen.calls)
	}
	st, b := post("/pets/pets", "application/json", `{"tag":"dog"}`)
	want := `{"statusCode":400,"message":"Body of the request does not conform to the definition NewPet, which is associated with the content type application/json. missing property 'name' Path: /"}`
	if st != 400 || b != want || seen.calls != 1 {
		t.Fatalf("invalid body: %d %s (backend calls %d)\nwant 400 %s", st, b, seen.calls, want)
	}
	if st, b := post("/pets/pets", "text/plain", `rex`); st != 400 || !strings.Contains(b, "Unspecified content type text/plain is not allowed.") {
		t.Fatalf("unspecified content type: %d %s", st, b)
	}
	if st, b := post("/pets/orders", "application/json", `{"qty":0}`); st != 200 || seen.calls != 2 ||
		!strings.Contains(seen.errors, `"ValidationRule":"IncorrectMessage"`) || !strings.Contains(seen.errors, `"Action":"detect"`) || !strings.Contains(seen.errors, "Path: /qty") {
		t.Fatalf("detect: %d %s, backend saw errors %q (calls %d)", st, b, seen.errors, seen.calls)
	}
	if st, _ := post("/pets/orders", "application/json", `{"qty":3}`); st != 200 || seen.errors != "[]" {
		t.Fatalf("detect, valid: %d, backend saw errors %q", st, seen.errors)
	}
	if st, b := send("PUT", "/pets/address", "application/json", `{"street":"Main"}`); st != 400 || !strings.Contains(b, "definition address") || !strings.Contains(b, "missing property 'city'") {
		t.Fatalf("schema-id of a service-level schema, invalid: %d %s", st, b)
	}
	if st, b := send("PUT", "/pets/address", "application/json", `{"city":"Berlin"}`); st != 200 {
		t.Fatalf("schema-id of a service-level schema, valid: %d %s", st, b)
	}
}
