package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apimgw/apimgw/policy"
)

// runPolicyRun implements `apimctl policy run`: one document (as the operation
// scope), one described request, mocks for everything the pipeline sends out.
func runPolicyRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apimctl policy run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	named := map[string]policy.NamedValue{}
	fragments := map[string]policy.Source{}
	mocks := map[string]*policy.CallResponse{}
	vars := map[string]string{}
	reqFile := fs.String("request", "", "REQ.http: the request (request line, headers, blank line, body)")
	backend := fs.String("backend-url", "http://backend.local", "the API's service URL")
	fs.Func("named-value", "NAME=VALUE: define a named value", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want NAME=VALUE, got %q", s)
		}
		named[k] = policy.NamedValue{Value: v}
		return nil
	})
	fs.Func("fragment", "ID=FILE: a fragment for include-fragment", func(s string) error {
		id, file, ok := strings.Cut(s, "=")
		if !ok || id == "" {
			return fmt.Errorf("want ID=FILE, got %q", s)
		}
		src, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		fragments[id] = policy.Source{Name: file, XML: src}
		return nil
	})
	fs.Func("mock", "URL=FILE: answer requests to URL (or below it) with FILE (an HTTP response, or a JSON/text body for a 200)", func(s string) error {
		i := strings.LastIndex(s, "=")
		if i <= 0 {
			return fmt.Errorf("want URL=FILE, got %q", s)
		}
		data, err := os.ReadFile(s[i+1:])
		if err != nil {
			return err
		}
		resp, err := parseMock(data)
		if err != nil {
			return fmt.Errorf("%s: %v", s[i+1:], err)
		}
		mocks[s[:i]] = resp
		return nil
	})
	fs.Func("variables", "K=V[,K=V...]: preset context variables (strings)", func(s string) error {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("want K=V, got %q", kv)
			}
			vars[k] = v
		}
		return nil
	})
	// The document may come first (apimctl policy run DOC --request ...).
	var doc string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		doc, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return answerFlagError(fs, err, stdout, stderr)
	}
	if doc == "" && fs.NArg() == 1 {
		doc = fs.Arg(0)
	} else if fs.NArg() != 0 || doc == "" || *reqFile == "" {
		policyUsage(stderr)
		return 2
	}
	src, err := os.ReadFile(doc)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	raw, err := os.ReadFile(*reqFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	cp := policy.NewCompiler(policy.Options{NamedValues: named, Fragments: fragments})
	p, err := cp.Compile(policy.ScopeOperation, policy.Source{Name: doc, XML: src})
	if err != nil {
		policy.WriteCheck(stdout, doc, err)
		return 1
	}
	pl := cp.Link(nil, nil, nil, p)
	c := policy.NewContext()
	if err := readRequest(raw, c); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *reqFile, err)
		return 1
	}
	c.Upstream.BaseURL = *backend
	c.RequestID = "00000000-0000-0000-0000-000000000001"
	c.ID = policy.Identity{APIName: "api", OperationName: "operation", OperationMethod: c.Request.Method}
	for k, v := range vars {
		c.SetVariable(k, policy.StringValue(v))
	}
	var trace []string
	c.OnStep = func(e policy.StepEvent) { trace = append(trace, e.String()) }
	answer := func(method, u string) (*policy.CallResponse, error) {
		if r := findMock(mocks, u); r != nil {
			return r, nil
		}
		return nil, fmt.Errorf("no --mock for %s %s", method, u)
	}
	res := policy.Simulate(pl, c, policy.SimIO{
		Forward: func(r *policy.SentRequest) (*policy.CallResponse, error) { return answer(r.Method, r.URL) },
		Call:    func(k *policy.HTTPCall) (*policy.CallResponse, error) { return answer(k.Method, k.URL) },
		Token: func(r policy.TokenRequest) (policy.Token, error) {
			// authentication-managed-identity: answered by a --mock of the
			// IMDS URL the gateway would call (token JSON in the body).
			resp, err := answer("GET", imdsURL(r))
			if err != nil {
				return policy.Token{}, err
			}
			return mockToken(resp)
		},
	})

	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for i, k := range res.Calls {
		fmt.Fprintf(w, "== call %d (%s) ==\n", i+1, k.Policy)
		if k.Token != nil {
			writeMessage(w, "GET "+imdsURL(*k.Token), []policy.Header{{Name: "Metadata", Value: "true"}}, nil)
			continue
		}
		writeMessage(w, k.Method+" "+k.URL, k.Headers, k.Body)
	}
	for i, r := range res.Forwarded {
		fmt.Fprintf(w, "== request to the backend (%d) ==\n", i+1)
		writeMessage(w, r.Method+" "+r.URL, r.Headers, r.Body)
	}
	if len(res.Forwarded) == 0 {
		fmt.Fprintln(w, "== request to the backend ==\n(not forwarded)")
	}
	fmt.Fprintln(w, "== response ==")
	reason := c.Response.Reason
	if reason == "" {
		reason = statusText(c.Response.StatusCode)
	}
	writeMessage(w, strconv.Itoa(c.Response.StatusCode)+" "+reason, c.Response.Headers.List, c.Response.Body)
	fmt.Fprintln(w, "== variables ==")
	for _, v := range c.VariableList() {
		fmt.Fprintln(w, v)
	}
	fmt.Fprintln(w, "== trace ==")
	for _, t := range trace {
		fmt.Fprintln(w, t)
	}
	if res.Failed != nil {
		fmt.Fprintf(w, "== error ==\n%s: %s\n", res.Failed.Source, res.Failed.Reason)
	}
	return 0
}

func writeMessage(w io.Writer, first string, headers []policy.Header, body []byte) {
	fmt.Fprintln(w, first)
	for _, h := range headers {
		fmt.Fprintf(w, "%s: %s\n", h.Name, h.Value)
	}
	if len(body) > 0 {
		fmt.Fprintf(w, "\n%s\n", body)
	}
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 0:
		return "(none)"
	}
	return ""
}

// readRequest fills c from an HTTP request description: "METHOD URL
// [HTTP/1.1]", header lines, a blank line, the body (as written).
func readRequest(raw []byte, c *policy.Context) error {
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	head, body, _ := strings.Cut(text, "\n\n")
	lines := strings.Split(strings.TrimLeft(head, "\n"), "\n")
	parts := strings.Fields(lines[0])
	if len(parts) < 2 {
		return fmt.Errorf("line 1: want METHOD URL [HTTP/1.1], got %q", lines[0])
	}
	u, err := url.Parse(parts[1])
	if err != nil {
		return fmt.Errorf("line 1: %v", err)
	}
	c.Request.Method = strings.ToUpper(parts[0])
	c.Request.Path = u.EscapedPath()
	if c.Request.Path == "" {
		c.Request.Path = "/"
	}
	policy.ParseQuery(u.RawQuery, &c.Request.Query)
	if u.Host != "" {
		c.Request.Headers.Add("Host", u.Host)
	}
	for i, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("line %d: want Name: value, got %q", i+2, l)
		}
		c.Request.Headers.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	c.Request.Body, c.Request.Buffered = []byte(body), true
	c.Request.ClientIP = netip.MustParseAddr("127.0.0.1")
	return nil
}

// parseMock reads a mock answer: an HTTP response ("HTTP/1.1 201 Created",
// headers, blank line, body), or a body for a 200 (JSON gets
// application/json, anything else text/plain).
func parseMock(data []byte) (*policy.CallResponse, error) {
	if !bytes.HasPrefix(data, []byte("HTTP/")) {
		ct := "text/plain"
		if json.Valid(data) {
			ct = "application/json"
		}
		return &policy.CallResponse{StatusCode: 200, Reason: "OK", Headers: []policy.Header{{Name: "Content-Type", Value: ct}}, Body: data}, nil
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	head, body, _ := strings.Cut(text, "\n\n")
	lines := strings.Split(head, "\n")
	parts := strings.SplitN(lines[0], " ", 3)
	if len(parts) < 2 {
		return nil, fmt.Errorf("line 1: want HTTP/1.1 STATUS REASON")
	}
	code, err := strconv.Atoi(parts[1])
	if err != nil || code < 100 || code > 599 {
		return nil, fmt.Errorf("line 1: bad status %q", parts[1])
	}
	r := &policy.CallResponse{StatusCode: code, Body: []byte(body)}
	if len(parts) == 3 {
		r.Reason = parts[2]
	}
	for i, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want Name: value", i+2)
		}
		r.Headers = append(r.Headers, policy.Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	return r, nil
}

// findMock returns the mock for u: the exact URL, else the longest mock URL
// that u starts with.
func findMock(mocks map[string]*policy.CallResponse, u string) *policy.CallResponse {
	if r, ok := mocks[u]; ok {
		return r
	}
	keys := make([]string, 0, len(mocks))
	for k := range mocks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		if strings.HasPrefix(u, k) {
			return mocks[k]
		}
	}
	return nil
}

// imdsURL is the Azure IMDS token URL the gateway's default token source
// calls for r.
func imdsURL(r policy.TokenRequest) string {
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {r.Resource}}
	if r.ClientID != "" {
		q.Set("client_id", r.ClientID)
	}
	return "http://169.254.169.254/metadata/identity/oauth2/token?" + q.Encode()
}

// mockToken reads a mocked token endpoint answer: token JSON with
// access_token and expires_on (Unix seconds; an hour from now if absent).
func mockToken(resp *policy.CallResponse) (policy.Token, error) {
	if resp.StatusCode != 200 {
		return policy.Token{}, fmt.Errorf("the token endpoint mock answered %d", resp.StatusCode)
	}
	var t struct {
		AccessToken string          `json:"access_token"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
	}
	if err := json.Unmarshal(resp.Body, &t); err != nil || t.AccessToken == "" {
		return policy.Token{}, fmt.Errorf("the token endpoint mock is not token JSON with an access_token")
	}
	exp := time.Now().Add(time.Hour)
	if n, err := strconv.ParseInt(strings.Trim(string(t.ExpiresOn), `"`), 10, 64); err == nil {
		exp = time.Unix(n, 0)
	}
	return policy.Token{AccessToken: t.AccessToken, ExpiresOn: exp}, nil
}
