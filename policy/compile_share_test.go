package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestCompilerSharesDocumentsAndExpressions: one Compiler reads a document
// attached to many places once and compiles each expression text once, yet
// every place keeps its own name (in compile errors) and its own counters.
func TestCompilerSharesDocumentsAndExpressions(t *testing.T) {
	const doc = `<policies><inbound><base/>
<rate-limit calls="1" renewal-period="60"/>
<set-header name="X-Op" exists-action="override"><value>@(context.Operation.Name)</value></set-header>
<set-header name="X-Op-Again" exists-action="override"><value>@(context.Operation.Name)</value></set-header>
</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	cp := NewCompiler(Options{State: NewState(newClock().now)})
	var pipes []*Pipeline
	for _, name := range []string{"apis/a/operations/x", "apis/b/operations/y"} {
		p, err := cp.Compile(ScopeOperation, Source{Name: name, XML: []byte(doc)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pipes = append(pipes, cp.Link(nil, nil, nil, p))
	}
	if len(cp.parsed) != 1 || len(cp.exprs) != 1 {
		t.Fatalf("parsed %d documents and %d expressions, want 1 and 1", len(cp.parsed), len(cp.exprs))
	}
	// Each place counts for itself: the first call of each passes, the
	// second call of the first place is limited.
	for i, want := range []Outcome{Continue, Continue} {
		if r := pipes[i].Run(newCtx("GET", "/"), Inbound); r.Outcome != want {
			t.Fatalf("pipeline %d, first call: %v, want %v", i, r.Outcome, want)
		}
	}
	c := newCtx("GET", "/")
	if r := pipes[0].Run(c, Inbound); r.Outcome != Respond || c.Response.StatusCode != 429 {
		t.Fatalf("pipeline 0, second call: %v %d, want a 429", r.Outcome, c.Response.StatusCode)
	}

	// Errors are not kept: the same bad document names each file.
	bad := strings.Replace(doc, `calls="1"`, `calls="many"`, 1)
	for _, name := range []string{"apis/a/operations/bad1", "apis/b/operations/bad2"} {
		_, err := cp.Compile(ScopeOperation, Source{Name: name, XML: []byte(bad)})
		var l ErrorList
		if !errors.As(err, &l) || len(l) == 0 || l[0].File != name {
			t.Fatalf("%s: %v, want an error naming the file", name, err)
		}
	}
	broken := doc[:40]
	for _, name := range []string{"apis/a/operations/broken1", "apis/b/operations/broken2"} {
		_, err := cp.Compile(ScopeOperation, Source{Name: name, XML: []byte(broken)})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("%s: %v, want a read error naming the file", name, err)
		}
	}
}

// TestSharedExpressionPerRequest: one compiled expression, shared by two
// pipelines, gives each request its own value.
func TestSharedExpressionPerRequest(t *testing.T) {
	const doc = `<policies><inbound><set-header name="X-Op" exists-action="override"><value>@(context.Operation.Name)</value></set-header></inbound></policies>`
	cp := NewCompiler(Options{})
	var pipes []*Pipeline
	for _, name := range []string{"a", "b"} {
		p, err := cp.Compile(ScopeOperation, Source{Name: name, XML: []byte(doc)})
		if err != nil {
			t.Fatal(err)
		}
		pipes = append(pipes, cp.Link(nil, nil, nil, p))
	}
	for i, opName := range []string{"first", "second"} {
		c := newCtx("GET", "/")
		c.ID.OperationName = opName
		pipes[i].Run(c, Inbound)
		if got, _ := c.Request.Headers.Get("X-Op"); got != opName {
			t.Errorf("pipeline %d: X-Op %q, want %q", i, got, opName)
		}
	}
}
