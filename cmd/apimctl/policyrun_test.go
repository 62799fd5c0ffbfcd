package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	doc := write("doc.xml", `<policies>
  <inbound>
    <set-header name="X-Mode" exists-action="override"><value>@((string)context.Variables["mode"])</value></set-header>
    <find-and-replace from="cat" to="dog"/>
    <send-request mode="new" response-variable-name="audit" timeout="5">
      <set-url>https://audit.test/log</set-url><set-method>POST</set-method><set-body>@(context.Request.Method)</set-body>
    </send-request>
    <choose>
      <when condition="@((string)context.Variables[&quot;mode&quot;] == &quot;short&quot;)">
        <return-response response-variable-name="audit"><set-header name="X-Short" exists-action="override"><value>1</value></set-header></return-response>
      </when>
    </choose>
  </inbound>
  <backend><forward-request/></backend>
  <outbound><set-header name="X-Out" exists-action="override"><value>done</value></set-header></outbound>
</policies>`)
	req := write("req.http", "POST https://gw.test/items/7?x=1 HTTP/1.1\nContent-Type: text/plain\n\na cat\n")
	audit := write("audit.http", "HTTP/1.1 202 Accepted\nContent-Type: application/json\n\n{\"logged\":true}")
	backend := write("backend.json", `{"id":7}`)
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := runPolicyTo(append([]string{"run"}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	code, out := run(doc, "--request", req, "--mock", "https://audit.test/="+audit, "--mock", "http://backend.local/items="+backend, "--variables", "mode=full")
	for _, want := range []string{
		"== call 1 (send-request) ==\nPOST https://audit.test/log\n\nPOST\n",
		"== request to the backend (1) ==\nPOST http://backend.local/items/7?x=1\nHost: gw.test\nContent-Type: text/plain\nX-Mode: full\n\na dog\n",
		"== response ==\n200 OK\nContent-Type: application/json\nX-Out: done\n\n{\"id\":7}\n",
		"audit = status 202, 15 body bytes (IResponse)", "mode = full (string)",
		"inbound  " + doc + ":3:5 <set-header> next", "<send-request> call", "<send-request> next", "backend  " + doc + ":14:12 <forward-request> forward",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	// return-response from the call's response; nothing forwarded.
	code, out = run(doc, "--request", req, "--mock", "https://audit.test/log="+audit, "--variables", "mode=short")
	if code != 0 || !strings.Contains(out, "(not forwarded)") || !strings.Contains(out, "== response ==\n202 Accepted\nContent-Type: application/json\nX-Short: 1\n\n{\"logged\":true}") {
		t.Errorf("short: %d\n%s", code, out)
	}
	// An unmocked call fails the policy into on-error (500), and says why.
	code, out = run(doc, "--request", req, "--variables", "mode=full")
	if code != 0 || !strings.Contains(out, "500") || !strings.Contains(out, "no --mock for POST https://audit.test/log") {
		t.Errorf("unmocked: %d\n%s", code, out)
	}
	if code, _ := run(doc); code != 2 {
		t.Errorf("without --request: exit %d", code)
	}
	bad := write("bad.xml", "<policies><inbound><xsl-transform/></inbound></policies>")
	if code, out := run(bad, "--request", req); code != 1 || !strings.Contains(out, "xsl-transform") {
		t.Errorf("bad document: %d %s", code, out)
	}
}

// TestPolicyRunManagedIdentity: the managed-identity token is answered by a
// mock of the IMDS URL, and the run shows the call and the header.
func TestPolicyRunManagedIdentity(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	doc := write("doc.xml", `<policies><inbound><authentication-managed-identity resource="https://vault.azure.net"/></inbound></policies>`)
	req := write("req.http", "GET https://gw.test/s HTTP/1.1\n\n")
	tok := write("token.json", `{"access_token":"eyJ.mock","expires_on":"4102444800"}`)
	var out, errb bytes.Buffer
	runPolicyTo([]string{"run", doc, "--request", req, "--mock", "http://169.254.169.254/metadata/identity/oauth2/token=" + tok, "--mock", "http://backend.local/=" + tok}, &out, &errb)
	for _, want := range []string{"GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net", "Authorization: Bearer eyJ.mock"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s%s", want, out.String(), errb.String())
		}
	}
}
