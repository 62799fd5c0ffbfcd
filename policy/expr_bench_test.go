package policy

import "testing"

// exprBenchCases are typical corpus expressions and blocks, from the cheapest
// (a context member) to a JSON rewrite; each evaluation counts as one op.
var exprBenchCases = []struct {
	name, src string
	block     bool
}{
	{"member", `context.Subscription.Id`, false},
	{"header-default", `context.Request.Headers.GetValueOrDefault("x-tier", "free")`, false},
	{"condition", `context.Request.Method == "POST" && context.Request.Headers.ContainsKey("x-debug")`, false},
	{"variable-cast", `(int)context.Variables["n"] > 3`, false},
	{"interpolation", `$"{context.Operation.Name}-{context.Response.StatusCode}"`, false},
	{"string-ops", `context.Request.Headers.GetValueOrDefault("Accept", "").Split(',')[0].Trim().ToLowerInvariant()`, false},
	{"linq", `"a,bb,ccc,dddd".Split(',').Where(x => x.Length > 1).Select(x => x.ToUpper()).FirstOrDefault()`, false},
	{"block-locals-if", `var n = (int)context.Variables["n"]; string s; if (n > 3) { s = "big"; } else { s = "small"; } return s + n;`, true},
	{"block-loop", `var sum = 0; for (var i = 0; i < 20; i++) { sum += i; } return sum;`, true},
	{"json-read", `(string)context.Request.Body.As<JObject>(preserveContent: true)["name"]`, false},
	{"json-rewrite", `var b = context.Request.Body.As<JObject>(preserveContent: true); b["seen"] = true; b.Remove("tags"); return b.ToString(Formatting.None);`, true},
	{"jwt-subject", `context.Request.Headers.GetValueOrDefault("X-Token", "").AsJwt()?.Subject`, false},
	{"hmac-sign", `Convert.ToBase64String(new HMACSHA256(Encoding.UTF8.GetBytes("key")).ComputeHash(Encoding.UTF8.GetBytes(context.RequestId)))`, false},
}

// BenchmarkExpressions measures evaluation of compiled expressions and
// blocks on a warmed-up Context (make bench-policy, docs/benchmarks.md).
func BenchmarkExpressions(b *testing.B) {
	for _, bc := range exprBenchCases {
		b.Run(bc.name, func(b *testing.B) {
			e, ee := compileExpression(bc.src, bc.block)
			if ee != nil {
				b.Fatal(ee.msg)
			}
			c := exprCtx()
			c.budget = DefaultStepBudget
			if _, err := e.eval(c); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.eval(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExpressionCompile measures parsing and compiling the same cases.
func BenchmarkExpressionCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, bc := range exprBenchCases {
			if _, ee := compileExpression(bc.src, bc.block); ee != nil {
				b.Fatal(ee.msg)
			}
		}
	}
}

// TestSimpleExpressionsDoNotAllocate pins the claim that reading and
// comparing context members allocates nothing.
func TestSimpleExpressionsDoNotAllocate(t *testing.T) {
	for _, bc := range exprBenchCases[:4] {
		e, ee := compileExpression(bc.src, bc.block)
		if ee != nil {
			t.Fatal(ee.msg)
		}
		c := exprCtx()
		c.budget = DefaultStepBudget
		if n := testing.AllocsPerRun(200, func() { _, _ = e.eval(c) }); n != 0 {
			t.Errorf("%s: %.1f allocations per evaluation, want 0", bc.name, n)
		}
	}
}
