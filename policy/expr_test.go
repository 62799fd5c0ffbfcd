package policy

import (
	"errors"
	"strings"
	"testing"
)

func evalString(t *testing.T, c *Context, src string) (Value, error) {
	t.Helper()
	e, ee := compileExpression(src, false)
	if ee != nil {
		t.Fatalf("compile %q: %s at %d", src, ee.msg, ee.off)
	}
	c.budget = DefaultStepBudget
	return e.eval(c)
}

func TestExpressions(t *testing.T) {
	cases := []struct {
		src  string
		want string // Value.String()
	}{
		{`1 + 2`, "3"},
		{`"a" + 1 + true`, "a1True"},
		{`"x" == "x" && !(1 != 1) || false`, "True"},
		{`true ? "yes" : "no"`, "yes"},
		{`null ?? "fallback"`, "fallback"},
		{`context.Request.Method`, "POST"},
		{`context.Request.Url.Path`, "/items/42"},
		{`context.Request.Url.Query.GetValueOrDefault("q", "none")`, "search"},
		{`context.Request.Url.Query.GetValueOrDefault("zz", "none")`, "none"},
		{`context.Request.Headers.GetValueOrDefault("Accept", "")`, "text/plain,application/json"},
		{`context.Request.Headers.GetValueOrDefault("x-missing", "d")`, "d"},
		{`context.Request.Headers.ContainsKey("accept")`, "True"},
		{`context.Request.IpAddress`, "10.0.0.1"},
		{`context.Request.MatchedParameters["id"]`, "42"},
		{`context.Request.MatchedParameters.GetValueOrDefault("nope", "x")`, "x"},
		{`context.Subscription.Id + "/" + context.Subscription.Key + "/" + context.Subscription.Name`, "sub1/k1/Sub One"},
		{`context.Product.Name`, "Starter"},
		{`context.Api.Name + context.Api.Path + context.Operation.Name + context.Operation.Method`, "echoechoget-itemGET"},
		{`context.Variables["n"]`, "5"},
		{`context.Variables.GetValueOrDefault<int>("n")`, "5"},
		{`context.Variables.GetValueOrDefault<int>("missing")`, "0"},
		{`context.Variables.GetValueOrDefault<string>("missing", "d")`, "d"},
		{`context.Variables.GetValueOrDefault("s")`, "Hello, World"},
		{`context.Variables.ContainsKey("s")`, "True"},
		{`(string)context.Variables["s"] == "Hello, World"`, "True"},
		{`((string)context.Variables["s"]).Split(',')[1].Trim()`, "World"},
		{`((string)context.Variables["s"]).Split(',').Length`, "2"},
		{`context.Response.StatusCode`, "0"},
		{`context.RequestId`, "req-1"},
		{`"Hello".Contains("ell") && "Hello".StartsWith("He") && "Hello".EndsWith("lo")`, "True"},
		{`"Hello".ToLower() + "Hello".ToUpper()`, "helloHELLO"},
		{`"Hello".Substring(1, 3) + "Hello".Substring(3)`, "elllo"},
		{`"a-b-c".Replace("-", "+")`, "a+b+c"},
		{`"  x ".Trim().Length`, "1"},
		{`$"{context.Request.Method} {context.Request.Url.Path}?{{x}}"`, "POST /items/42?{x}"},
		{`@"C:\path ""quoted"""`, `C:\path "quoted"`},
		{`"tab\there"`, "tab\there"},
		{`string.Empty == ""`, "True"},
		{`3 > 2 && 2 >= 2 && 1 < 2 && 1 <= 1`, "True"},
		{`-(2 - 5)`, "3"},
	}
	for _, tc := range cases {
		c := newCtx("POST", "/items/42", "Accept", "text/plain", "accept", "application/json")
		c.Request.Query.Add("q", "search")
		c.Request.MatchedParameters.Add("id", "42")
		c.SetVariable("n", IntValue(5))
		c.SetVariable("s", StringValue("Hello, World"))
		v, err := evalString(t, c, tc.src)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if v.String() != tc.want {
			t.Errorf("%s = %q, want %q", tc.src, v.String(), tc.want)
		}
	}
}

func TestExpressionBlock(t *testing.T) {
	e, ee := compileExpression(` return context.Request.Method.ToLower(); `, true)
	if ee != nil {
		t.Fatal(ee.msg)
	}
	c := newCtx("GET", "/")
	c.budget = 100
	if v, err := e.eval(c); err != nil || v.s != "get" {
		t.Fatalf("%v %v", v, err)
	}
}

func TestExpressionCompileErrors(t *testing.T) {
	cases := []struct {
		src         string
		block       bool
		off         int
		msg         string
		unsupported bool
	}{
		{`context.Deployment.Continent`, false, 19, "IDeployment.Continent is not supported", true},
		{`Guid.Frob().ToString()`, false, 5, "Guid.Frob( ) is not supported", true},
		{`new Widget().Next()`, false, 0, "new Widget is not supported", true},
		{`x => x`, false, 0, `a lambda can only be the argument`, true},
		{`"a".Frob()`, false, 4, "method string.Frob( ) is not supported", true},
		{`(Widget)context.Variables["a"]`, false, 1, "cast to Widget", true},
		{`"a" == 1`, false, 4, "cannot compare string with int", true},
		{`!"a"`, false, 1, "expected bool, found string", true},
		{`var x = 1;`, true, 0, "must return a value", false},
		{`"unterminated`, false, 0, "unterminated string", false},
		{`(1 + 2`, false, 6, `expected ")"`, false},
		{`context.Variables.GetValueOrDefault<Widget>("a")`, false, 43, "type Widget is not supported", true},
		{`context.Request.Headers.Frob`, false, 24, "IHeaders.Frob is not supported", true},
		{strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), false, 64, "nested deeper", true},
		{strings.Repeat("!", 600) + "true", false, 511, "nested deeper", true},
	}
	for _, tc := range cases {
		_, ee := compileExpression(tc.src, tc.block)
		if ee == nil {
			t.Errorf("%s: compiled", tc.src)
			continue
		}
		if !strings.Contains(ee.msg, tc.msg) || ee.off != tc.off || ee.unsupported != tc.unsupported {
			t.Errorf("%s: got %q at %d (unsupported %v), want %q at %d (%v)", tc.src, ee.msg, ee.off, ee.unsupported, tc.msg, tc.off, tc.unsupported)
		}
	}
}

func TestExpressionRuntimeErrors(t *testing.T) {
	cases := []struct{ src, msg string }{
		{`context.Variables["missing"]`, "not present"},
		{`(int)context.Variables["s"]`, "cannot cast string to int"},
		{`"abc".Substring(5)`, "outside the string"},
		{`"a,b".Split(',')[5]`, "outside the array"},
	}
	for _, tc := range cases {
		c := newCtx("GET", "/")
		c.SetVariable("s", StringValue("x"))
		_, err := evalString(t, c, tc.src)
		if !errors.Is(err, ErrEval) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q", tc.src, err, tc.msg)
		}
	}
	// Subscription members of an anonymous call fail like a null reference.
	c := newCtx("GET", "/")
	c.ID.SubscriptionID = ""
	if _, err := evalString(t, c, `context.Subscription.Id`); !errors.Is(err, ErrEval) {
		t.Errorf("anonymous subscription: %v", err)
	}
}

func TestStepBudget(t *testing.T) {
	src := `"a"` + strings.Repeat(` + "a"`, 100)
	p := compilePipeline(t, Options{StepBudget: 50}, op(`<policies><inbound><set-variable name="v" value="@(`+src+`)"/></inbound></policies>`))
	c := newCtx("GET", "/")
	r := p.Run(c, Inbound)
	if r.Outcome != Fail || !errors.Is(r.Err, ErrBudget) {
		t.Fatalf("want budget failure, got %+v", r)
	}
	var re *RuntimeError
	if !errors.As(r.Err, &re) || re.Source != "set-variable" || re.Pos != (Pos{1, 20}) {
		t.Fatalf("runtime error %+v", re)
	}
	p = compilePipeline(t, Options{StepBudget: 500}, op(`<policies><inbound><set-variable name="v" value="@(`+src+`)"/></inbound></policies>`))
	c = newCtx("GET", "/")
	if r := p.Run(c, Inbound); r.Outcome != Continue {
		t.Fatalf("with budget 500: %+v", r)
	}
}

func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		`context.Request.Headers.GetValueOrDefault("a", "b").Split(',')[0].ToLower()`,
		`$"{context.Variables["x"]}-{(string)context.Variables.GetValueOrDefault("y", "z")}"`,
		`true ? 1 + 2 : -3`, `null ?? "x"`, `@"a""b"`, `'c' + "d".Substring(0, 1)`,
		`return context.RequestId;`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	for _, tb := range exprTables { // the language tables (expr_lang_test.go)
		for _, tc := range tb.cases {
			f.Add(tc.src, tb.block)
		}
	}
	f.Fuzz(func(t *testing.T, src string, block bool) {
		e, ee := compileExpression(src, block)
		if ee != nil {
			if ee.off < 0 || ee.off > len(src)+1 {
				t.Fatalf("error offset %d outside %d bytes: %s", ee.off, len(src), ee.msg)
			}
			return
		}
		c := newCtx("GET", "/a")
		c.SetVariable("x", StringValue("1,2"))
		c.budget = 1000
		_, err := e.eval(c)
		if err != nil && !errors.Is(err, ErrEval) && !errors.Is(err, ErrBudget) || err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("unexpected error: %v", err)
		}
	})
}
