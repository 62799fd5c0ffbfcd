package policy

import (
	"errors"
	"strings"
	"testing"
)

// exprCtx is the Context the language tables run against.
func exprCtx() *Context {
	c := newCtx("POST", "/items/42", "Host", "gw.example.com:8443", "Accept", "text/plain", "accept", "application/json",
		"Authorization", "Basic "+b64([]byte("alice:s3cret")), "X-Token", testJWT)
	c.Request.Query.Add("q", "search")
	c.Request.MatchedParameters.Add("id", "42")
	c.Request.Body = []byte(`{"name":"widget","tags":["a","b"],"price":9.5,"qty":3,"nested":{"ok":true}}`)
	c.Request.Buffered = true
	c.SetVariable("n", IntValue(5))
	c.SetVariable("s", StringValue("Hello, World"))
	c.SetVariable("resp", ResponseValue(201, "Created", []Header{{"Content-Type", "application/json"}, {"X-Id", "7"}}, []byte(`{"access_token":"tok","expires_in":3600}`)))
	c.SetVariable("xmlresp", ResponseValue(200, "OK", nil, []byte(`<?xml version="1.0"?><UserDelegationKey><SignedOid>oid-1</SignedOid><Value>a2V5</Value></UserDelegationKey>`)))
	c.Deployment = Deployment{Region: "West Europe", ServiceName: "contoso", GatewayID: "gw-1"}
	return c
}

// testJWT is {"alg":"HS256","typ":"JWT"}.{"sub":"user-1","name":"Ann","aud":["api","web"],"exp":1700000000,"roles":["r1","r2"]}.sig
var testJWT = "Bearer " + b64url(`{"alg":"HS256","typ":"JWT"}`) + "." + b64url(`{"sub":"user-1","name":"Ann","aud":["api","web"],"exp":1700000000,"roles":["r1","r2"]}`) + ".c2ln"

func b64url(s string) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(b64([]byte(s))), "=")
}

type exprTable struct {
	block bool
	cases []exprCase
}

type exprCase struct {
	src  string
	want string // Value.String() of the result
}

func runExprTable(t *testing.T, block bool, cases []exprCase) {
	t.Helper()
	for _, tc := range cases {
		e, ee := compileExpression(tc.src, block)
		if ee != nil {
			t.Errorf("%s: compile: %s at %d", tc.src, ee.msg, ee.off)
			continue
		}
		c := exprCtx()
		c.budget = DefaultStepBudget
		v, err := e.eval(c)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if v.String() != tc.want {
			t.Errorf("%s = %q, want %q", tc.src, v.String(), tc.want)
		}
	}
}

func TestExpressionOperatorsAndCasts(t *testing.T) {
	runExprTable(t, exprTable0.block, exprTable0.cases)
}

func TestExpressionBlocks(t *testing.T) {
	runExprTable(t, exprTable1.block, exprTable1.cases)
}

func TestExpressionJSON(t *testing.T) {
	runExprTable(t, exprTable2.block, exprTable2.cases)
	runExprTable(t, exprTable3.block, exprTable3.cases)
}

func TestExpressionXML(t *testing.T) {
	runExprTable(t, exprTable4.block, exprTable4.cases)
	runExprTable(t, exprTable5.block, exprTable5.cases)
}

func TestExpressionLINQ(t *testing.T) {
	runExprTable(t, exprTable6.block, exprTable6.cases)
}

func TestExpressionLibrary(t *testing.T) {
	runExprTable(t, exprTable7.block, exprTable7.cases)
}

func TestExpressionTime(t *testing.T) {
	runExprTable(t, exprTable8.block, exprTable8.cases)
}

func TestExpressionContextMembers(t *testing.T) {
	runExprTable(t, exprTable9.block, exprTable9.cases)
}

// The examples of Microsoft's "API Management policy expressions" page.
func TestExpressionAPIMReferenceExamples(t *testing.T) {
	runExprTable(t, false, []exprCase{
		{`true`, "True"},
		{`(1+1).ToString()`, "2"},
		{`"Hi There".Length`, "8"},
		{`Regex.Match(context.Request.Headers.GetValueOrDefault("Cache-Control","max-age=60"), @"max-age=(?<maxAge>\d+)").Groups["maxAge"]?.Value`, "60"},
		{`context.Variables.ContainsKey("maxAge") ? int.Parse((string)context.Variables["maxAge"]) : 3600`, "3600"},
	})
	runExprTable(t, true, []exprCase{
		{`string[] value;
if (context.Request.Headers.TryGetValue("Authorization", out value))
{
    if(value != null && value.Length > 0)
    {
        return Encoding.UTF8.GetString(Convert.FromBase64String(value[0].Substring(6)));
    }
}
return null;`, "alice:s3cret"},
		{`object n; return context.Variables.TryGetValue("n", out n) ? n : -1;`, "5"},
	})
}

func TestExpressionFormBody(t *testing.T) {
	e, ee := compileExpression(`context.Request.Body.AsFormUrlEncodedContent(preserveContent: true)["code"].Single() + context.Request.Body.AsFormUrlEncodedContent(true)["state"][0]`, false)
	if ee != nil {
		t.Fatal(ee.msg)
	}
	c := newCtx("POST", "/cb")
	c.Request.Body, c.Request.Buffered = []byte("code=abc&state=x%20y"), true
	c.budget = 1000
	if v, err := e.eval(c); err != nil || v.String() != "abcx y" {
		t.Fatalf("%v %v", v, err)
	}
	if r, _ := e.ReadsBody(); !r {
		t.Fatal("ReadsBody: request body not reported")
	}
}

// Without preserveContent the body is consumed, as in APIM: a second read is
// empty (As<JObject> gives null).
func TestExpressionBodyConsumed(t *testing.T) {
	e, ee := compileExpression(`var a = context.Request.Body.As<JObject>(); var b = context.Request.Body.As<JObject>(); return (a != null) + "/" + (b == null);`, true)
	if ee != nil {
		t.Fatal(ee.msg)
	}
	c := exprCtx()
	c.budget = 1000
	if v, err := e.eval(c); err != nil || v.String() != "True/True" {
		t.Fatalf("%v %v", v, err)
	}
	if len(c.Request.Body) != 0 {
		t.Fatalf("body not consumed: %q", c.Request.Body)
	}
}

func TestExpressionLoopBudget(t *testing.T) {
	for _, src := range []string{
		`while (true) { } return 1;`,
		`for (;;) { } return 1;`,
		`var i = 0; while (true) { try { i++; } catch { } } return i;`,
		`int F(int x) => F(x + 1); return F(0);`,
	} {
		e, ee := compileExpression(src, true)
		if ee != nil {
			t.Fatalf("%s: %s", src, ee.msg)
		}
		c := newCtx("GET", "/")
		c.budget = 10_000
		if _, err := e.eval(c); !errors.Is(err, ErrBudget) {
			t.Errorf("%s: %v, want ErrBudget", src, err)
		}
	}
}

func TestExpressionMemoryBudget(t *testing.T) {
	e, ee := compileExpression(`var s = "x"; for (var i = 0; i < 40; i++) { s = s + s; } return s.Length;`, true)
	if ee != nil {
		t.Fatal(ee.msg)
	}
	c := newCtx("GET", "/")
	c.budget = 10_000
	if _, err := e.eval(c); !errors.Is(err, ErrBudget) {
		t.Fatalf("%v, want ErrBudget (memory)", err)
	}
}

// Large results are charged before they are built: a JSON array holding one
// big string many times, a Replace that multiplies its input, a wide join.
func TestExpressionMemoryAmplification(t *testing.T) {
	for _, src := range []string{
		`var s = new string('x', 1000000); var a = new JArray(); for (var i = 0; i < 200; i++) { a.Add(s); } return a.ToString();`,
		`var s = new string('x', 1000000); return s.Replace("x", "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");`,
		`var s = new string('x', 1000000); var l = new List<string>(); for (var i = 0; i < 100; i++) { l.Add(""); } return string.Join(s, l);`,
		`var b = new byte[9000000000]; return 1;`,
		`var s = new string('x', 10000000); return $"{s}{s}{s}{s}{s}{s}{s}{s}";`,
	} {
		e, ee := compileExpression(src, true)
		if ee != nil {
			t.Fatalf("%s: %s", src, ee.msg)
		}
		c := newCtx("GET", "/")
		c.budget = DefaultStepBudget
		if _, err := e.eval(c); !errors.Is(err, ErrBudget) {
			t.Errorf("%s: %v, want ErrBudget", src[:40], err)
		}
	}
	if _, ee := compileExpression(`$"{1,100000000}"`, false); ee == nil || !strings.Contains(ee.msg, "too wide") {
		t.Errorf("huge alignment: %v", ee)
	}
}

func TestExpressionThrowBecomesPolicyError(t *testing.T) {
	p := compilePipeline(t, Options{}, op(`<policies><inbound><set-variable name="v" value="@{ throw new Exception(&quot;nope&quot;); }"/></inbound><on-error><set-variable name="m" value="@(context.LastError.Message + &quot;|&quot; + context.LastError.Source + &quot;|&quot; + context.LastError.Reason)"/></on-error></policies>`))
	c := newCtx("GET", "/")
	r := p.Run(c, Inbound)
	if r.Outcome != Fail || !errors.Is(r.Err, ErrEval) || !strings.Contains(r.Err.Error(), "nope") {
		t.Fatalf("%+v", r)
	}
	p.Run(c, OnError)
	m, _ := c.Variable("m")
	if !strings.Contains(m.String(), "nope") || !strings.Contains(m.String(), "|set-variable|ExpressionValueEvaluationFailure") {
		t.Fatalf("LastError seen by on-error: %q", m.String())
	}
}

func TestExpressionLanguageCompileErrors(t *testing.T) {
	cases := []struct{ src, msg string }{
		{`context.Request.Frob`, "IRequest.Frob is not supported"},
		{`Foo.Bar()`, `the name "Foo" does not exist`},
		{`Guid.Frob()`, "Guid.Frob( ) is not supported"},
		{`(Widget)context.Variables["a"]`, "cast to Widget is not supported"},
		{`new Widget()`, "new Widget is not supported"},
		{`context.Variables["a"].Frobnicate()`, "method Frobnicate( ) is not supported on any type"},
		{`context.Request.Body.As<Widget>()`, "T must be string"},
		{`"a".Substring("x")`, "expected int, found string"},
		{`1 +`, "where a value was expected"},
		{`x`, `the name "x" does not exist`},
		{`typeof(string)`, "typeof is not supported"},
		{`context.Request.MatchedParameters("id")`, "is a property, not a method (index it: MatchedParameters[…]"},
		{`Regex.IsMatch("abab", @"(ab)\1")`, `backreference \1 is not supported (patterns use RE2 semantics)`},
		{`new Regex("(?<=a)b")`, "lookbehind (?<=) is not supported"},
		{`Regex.Match("a", "(")`, "missing closing )"},
	}
	for _, tc := range cases {
		_, ee := compileExpression(tc.src, false)
		if ee == nil {
			t.Errorf("%s: compiled", tc.src)
			continue
		}
		if !strings.Contains(ee.msg, tc.msg) {
			t.Errorf("%s: %q, want %q", tc.src, ee.msg, tc.msg)
		}
	}
	blocks := []struct{ src, msg string }{
		{`var x = 1;`, "must return a value"},
		{`var x = 1; var x = 2; return x;`, "already defined"},
		{`y = 1; return y;`, `the name "y" does not exist`},
		{`break; return 1;`, "outside a loop"},
		{`context.Variables["a"] = 1; return 1;`, "read-only"},
		{`var v; return 1;`, "needs an initializer"},
		{`int x = "a"; return x;`, "cannot convert string to int"},
		{`try { return 1; } catch (Exception e) when (true) { return 2; }`, "exception filters"},
		{`1 + 1; return 2;`, "only assignment, call"},
	}
	for _, tc := range blocks {
		_, ee := compileExpression(tc.src, true)
		if ee == nil {
			t.Errorf("%s: compiled", tc.src)
			continue
		}
		if !strings.Contains(ee.msg, tc.msg) {
			t.Errorf("%s: %q, want %q", tc.src, ee.msg, tc.msg)
		}
	}
}

func TestExpressionRegexRE2(t *testing.T) {
	e, ee := compileExpression(`Regex.IsMatch("abab", (string)context.Variables["p"])`, false)
	if ee != nil {
		t.Fatal(ee.msg)
	}
	c := newCtx("GET", "/")
	c.SetVariable("p", StringValue(`(ab)\1`))
	c.budget = 100
	if _, err := e.eval(c); err == nil || !strings.Contains(err.Error(), "backreference") || !strings.Contains(err.Error(), "RE2") {
		t.Fatalf("%v", err)
	}
}

func FuzzStatements(f *testing.F) {
	for _, s := range []string{
		`var x = 1; x += 2; return x;`,
		`for (var i = 0; i < 3; i++) { } return 1;`,
		`foreach (var s in "a,b".Split(',')) { if (s == "b") return s; } return "";`,
		`switch ("a") { case "a": return 1; default: return 2; }`,
		`try { throw new Exception("x"); } catch (Exception e) { return e.Message; }`,
		`int F(int v) => v * 2; return F(2);`,
		`var o = new JObject(); o["a"] = new JArray(1, 2); return o.ToString();`,
		`var d = new Dictionary<string, string> { { "a", "b" } }; return d["a"];`,
		`while (true) { } return 1;`,
		`return JObject.Parse("{\"a\":[1,{\"b\":null}]}").SelectToken("a[1].b") == null;`,
		`return XDocument.Parse("<a><b/></a>").Descendants("b").Count();`,
	} {
		f.Add(s)
	}
	for _, tb := range exprTables {
		for _, tc := range tb.cases {
			if tb.block {
				f.Add(tc.src)
			} else {
				f.Add("return " + tc.src + ";")
			}
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, ee := compileExpression(src, true)
		if ee != nil {
			if ee.off < 0 || ee.off > len(src)+1 {
				t.Fatalf("error offset %d outside %d bytes: %s", ee.off, len(src), ee.msg)
			}
			return
		}
		c := newCtx("GET", "/a")
		c.Request.Body, c.Request.Buffered = []byte(`{"a":1}`), true
		c.SetVariable("x", StringValue("1,2"))
		c.budget = 2000
		_, err := e.eval(c)
		if err != nil && !errors.Is(err, ErrEval) && !errors.Is(err, ErrBudget) || err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("unexpected error: %v", err)
		}
	})
}

const doc = `"<r xmlns:s=\"urn:s\"><s:a id=\"1\">x</s:a><b><c>y</c><c>z</c></b></r>"`

// The tables, also the fuzzers' seeds.
var exprTables = []*exprTable{&exprTable0, &exprTable1, &exprTable2, &exprTable3, &exprTable4, &exprTable5, &exprTable6, &exprTable7, &exprTable8, &exprTable9}

var exprTable0 = exprTable{block: false, cases: []exprCase{
	{`7 / 2 + 7 % 2 * 10`, "13"},
	{`7.0 / 2`, "3.5"},
	{`1.5 + 1`, "2.5"},
	{`0xFF & 0x0F | 0x30`, "63"},
	{`1 << 4 >> 2`, "4"},
	{`5 ^ 1`, "4"},
	{`~0`, "-1"},
	{`(int)3.9`, "3"},
	{`(double)3 / 2`, "1.5"},
	{`(long)context.Variables["n"] * 2L`, "10"},
	{`(string)null ?? "d"`, "d"},
	{`context.Variables["s"] as string`, "Hello, World"},
	{`context.Variables["n"] as string ?? "not a string"`, "not a string"},
	{`context.Variables["s"] is string`, "True"},
	{`context.Variables["n"] is int`, "True"},
	{`context.Variables.GetValueOrDefault("missing") is null`, "True"},
	{`context.Variables.GetValueOrDefault("s") is not null`, "True"},
	{`((IResponse)context.Variables["resp"]).StatusCode`, "201"},
	{`((IResponse)context.Variables["resp"])?.StatusReason`, "Created"},
	{`context.Variables.GetValueOrDefault<IResponse>("resp").Headers.GetValueOrDefault("x-id", "")`, "7"},
	{`context.Variables.GetValueOrDefault<string>("missing")?.Length ?? -1`, "-1"},
	{`context.Variables.GetValueOrDefault("missing")?.ToString()`, ""},
	{`true & false | true`, "True"},
	{`1 == 1.0`, "True"},
	{`unchecked((int)4294967297)`, "1"},
	{`(byte)300 + (short)65535`, "43"},
	{`$"{3.14159:F2}|{42,5}|{42,-4}|{7:D3}|{255:X}"`, "3.14|   42|42  |007|FF"},
	{`$"{1234567.891:N1}"`, "1,234,567.9"},
	{`12.5.ToString("0.00")`, "12.50"},
	{`default(int) + 1`, "1"},
}}

var exprTable1 = exprTable{block: true, cases: []exprCase{
	{`var x = 1; x += 2; x *= 3; return x;`, "9"},
	{`int i = 0; i++; ++i; i--; return i;`, "1"},
	{`string s = "a"; s += "b"; return s;`, "ab"},
	{`var n = (int)context.Variables["n"]; if (n > 3) { return "big"; } else if (n > 1) { return "mid"; } return "small";`, "big"},
	{`var sum = 0; for (var i = 0; i < 5; i++) { if (i == 3) continue; sum += i; } return sum;`, "7"},
	{`var i = 0; while (true) { i++; if (i >= 4) break; } return i;`, "4"},
	{`var i = 0; do { i += 2; } while (i < 5); return i;`, "6"},
	{`var s = ""; foreach (var p in "a,b,c".Split(',')) { s = p + s; } return s;`, "cba"},
	{`switch (context.Request.Method) { case "GET": return 1; case "POST": case "PUT": return 2; default: return 3; }`, "2"},
	{`switch ("zz") { case "a": return "a"; default: return "d"; }`, "d"},
	{`try { throw new InvalidOperationException("boom"); } catch (InvalidOperationException e) { return "caught " + e.Message; }`, "caught boom"},
	{`try { var x = ((string)null).Length; return "no"; } catch (Exception ex) { return "null ref"; }`, "null ref"},
	{`var r = "start"; try { r += "-try"; } finally { r += "-finally"; } return r;`, "start-try-finally"},
	{`try { return int.Parse("x"); } catch { return -1; }`, "-1"},
	{`int Twice(int v) { return v * 2; } return Twice(Twice(3));`, "12"},
	{`int Fact(int v) => v <= 1 ? 1 : v * Fact(v - 1); return Fact(5);`, "120"},
	{`var list = new List<string>(); list.Add("x"); list.Add("y"); return string.Join("+", list);`, "x+y"},
	{`var d = new Dictionary<string, string> { { "a", "1" }, { "b", "2" } }; d["c"] = "3"; return d.Count + d["b"];`, "32"},
	{`string v; if (context.Variables.ContainsKey("s")) { v = "has"; } else { v = "none"; } return v;`, "has"},
	{`const int k = 60 * 20; return k;`, "1200"},
	{`if (int.TryParse("123", out var n)) { return n + 1; } return 0;`, "124"},
	{`int m; var ok = int.TryParse("zz", out m); return ok + ":" + m;`, "False:0"},
	{`unchecked { var b = (byte)300; return b; }`, "44"},
	{`using (var h = new HMACSHA256(Encoding.UTF8.GetBytes("k"))) { return Convert.ToBase64String(h.ComputeHash(Encoding.UTF8.GetBytes("m"))).Length; }`, "44"},
	{`var b = new byte[4]; b[0] = 1; b[3] = 2; return BitConverter.ToInt32(b, 0);`, "33554433"},
	{`var a = new[] { "x", "y" }; a[1] = "z"; return a[0] + a[1] + a.Length;`, "xz2"},
}}

var exprTable2 = exprTable{block: false, cases: []exprCase{
	{`context.Request.Body.As<JObject>(preserveContent: true)["name"].ToString()`, "widget"},
	{`(string)context.Request.Body.As<JObject>(true)["name"]`, "widget"},
	{`context.Request.Body.As<JObject>(preserveContent: true)["tags"][1]`, "b"},
	{`(double)context.Request.Body.As<JObject>(true)["price"] * 2`, "19"},
	{`context.Request.Body.As<JObject>(true).Value<int>("qty") + 1`, "4"},
	{`context.Request.Body.As<JObject>(true)["nested"]["ok"].Value<bool>()`, "True"},
	{`context.Request.Body.As<JObject>(true).SelectToken("nested.ok").ToString()`, "True"},
	{`context.Request.Body.As<JObject>(true).SelectToken("$.tags[0]").ToString()`, "a"},
	{`context.Request.Body.As<JObject>(true)["missing"] == null`, "True"},
	{`context.Request.Body.As<JObject>(true)["tags"].ToObject<string[]>().Length`, "2"},
	{`context.Request.Body.As<string>(preserveContent: true).Length > 10`, "True"},
	{`new JObject(new JProperty("a", 1), new JProperty("b", "x")).ToString(Formatting.None)`, `{"a":1,"b":"x"}`},
	{`new JObject(new JProperty("a", new JArray("x", 2, true))).ToString()`, "{\n  \"a\": [\n    \"x\",\n    2,\n    true\n  ]\n}"},
	{`JObject.Parse("{\"a\":{\"b\":[1,2.5,null]}}").ToString(Newtonsoft.Json.Formatting.None)`, `{"a":{"b":[1,2.5,null]}}`},
	{`JArray.Parse("[1,2,3]").Count`, "3"},
	{`JsonConvert.SerializeObject(new JObject { ["k"] = "v" })`, `{"k":"v"}`},
	{`JsonConvert.SerializeObject(new { id = 1, name = "n" })`, `{"id":1,"name":"n"}`},
	{`JObject.Parse("{\"a\":1,\"b\":2}").Properties().Select(p => p.Name).Aggregate((x, y) => x + y)`, "ab"},
	{`((JObject)JToken.Parse("{\"a\":1}")).ContainsKey("a")`, "True"},
	{`JObject.FromObject(new Dictionary<string, string> { { "x", "1" } }).ToString(Formatting.None)`, `{"x":"1"}`},
	{`((JObject)context.Variables.GetValueOrDefault("missing", new JObject())).Count`, "0"},
	{`JObject.Parse(((IResponse)context.Variables["resp"]).Body.As<string>())["access_token"].ToString()`, "tok"},
	{`((IResponse)context.Variables["resp"]).Body.As<JObject>()["expires_in"].Value<int>() - 60`, "3540"},
	{`JObject.Parse("{\"d\":\"x\"}")["d"].Type.ToString()`, "String"},
}}

var exprTable3 = exprTable{block: true, cases: []exprCase{
	{`var o = new JObject(); o["a"] = 1; o["b"] = new JArray(); ((JArray)o["b"]).Add("x"); o.Add("c", true); return o.ToString(Formatting.None);`, `{"a":1,"b":["x"],"c":true}`},
	{`var o = JObject.Parse("{\"a\":1,\"b\":2}"); o.Remove("a"); o.Property("b").Value = 5; return o.ToString(Formatting.None);`, `{"b":5}`},
	{`var body = context.Request.Body.As<JObject>(preserveContent: true); body["name"] = "changed"; return body["name"];`, "changed"},
	{`var a = new JArray(); foreach (var t in JArray.Parse("[1,2,3]")) { a.Add((int)t * 10); } return a.ToString(Formatting.None);`, "[10,20,30]"},
	{`JObject o; o = new JObject(); JToken t; return o.TryGetValue("x", out t) ? "yes" : "no";`, "no"},
}}

var exprTable4 = exprTable{block: false, cases: []exprCase{
	{`XDocument.Parse(` + doc + `).Root.Name.LocalName`, "r"},
	{`XDocument.Parse(` + doc + `).Descendants().Where(e => e.Name.LocalName == "a").First().Value`, "x"},
	{`XDocument.Parse(` + doc + `).Descendants("c").Count()`, "2"},
	{`XDocument.Parse(` + doc + `).Root.Element("b").Elements("c").Last().Value`, "z"},
	{`XDocument.Parse(` + doc + `).Root.Element("a") == null`, "True"},
	{`XDocument.Parse(` + doc + `).Root.Element(XName.Get("a", "urn:s")).Attribute("id").Value`, "1"},
	{`XElement.Parse("<p><q>v</q></p>").Element("q").Value`, "v"},
	{`((IResponse)context.Variables["xmlresp"]).Body.As<XDocument>().Root.Element("SignedOid").Value`, "oid-1"},
}}

var exprTable5 = exprTable{block: true, cases: []exprCase{
	{`XNamespace s = "urn:s"; var d = XDocument.Parse(` + doc + `); return d.Root.Element(s + "a").Value;`, "x"},
	{`XmlDocument xml = new XmlDocument(); xml.LoadXml(((IResponse)context.Variables["xmlresp"]).Body.As<string>()); return xml.DocumentElement.SelectSingleNode("/UserDelegationKey/SignedOid").InnerText;`, "oid-1"},
	{`var ret = ""; using (XmlReader reader = XmlReader.Create(new StringReader("<a><b>1</b><c>2</c></a>"))) { reader.MoveToContent(); reader.Read(); while (!reader.EOF && ret == "") { if (reader.Name == "c") { var el = XNode.ReadFrom(reader) as XElement; ret = el.Value; } else { reader.Read(); } } } return ret;`, "2"},
}}

var exprTable6 = exprTable{block: false, cases: []exprCase{
	{`"c,a,b".Split(',').OrderBy(x => x).First()`, "a"},
	{`"c,a,b".Split(',').OrderByDescending(x => x).Last()`, "a"},
	{`string.Join("|", "a,bb,ccc".Split(',').Select(x => x.Length))`, "1|2|3"},
	{`"a,bb,ccc".Split(',').Where(x => x.Length > 1).Count()`, "2"},
	{`"a,bb".Split(',').Any(x => x == "bb") && "a,bb".Split(',').All(x => x.Length < 3)`, "True"},
	{`"1,2,3,4".Split(',').Skip(1).Take(2).Aggregate("", (acc, x) => acc + x)`, "23"},
	{`"x,y".Split(',').Contains("y")`, "True"},
	{`"a,b,a".Split(',').Distinct().Count()`, "2"},
	{`"a,b".Split(',').FirstOrDefault(x => x == "z") ?? "none"`, "none"},
	{`"3,1,2".Split(',').Select(x => int.Parse(x)).Max()`, "3"},
	{`"3,1,2".Split(',').Select(x => int.Parse(x)).Sum()`, "6"},
	{`context.Request.Headers.Where(h => h.Key.StartsWith("X-")).Select(h => h.Key).First()`, "X-Token"},
	{`context.Request.Headers["Accept"].First()`, "text/plain"},
	{`context.Request.Headers.GetValueOrDefault("accept","").Split(',').ToList().Count`, "2"},
	{`new List<string> { "a", "b" }.Select((x, i) => x + i).Last()`, "b1"},
	{`JArray.Parse("[{\"n\":1},{\"n\":2}]").Select(j => (int)j["n"]).Sum()`, "3"},
	{`new [] { "post", "put" }.Contains(context.Request.Method, StringComparer.OrdinalIgnoreCase)`, "True"},
}}

var exprTable7 = exprTable{block: false, cases: []exprCase{
	{`string.Format("{0}-{1:D2}-{{x}}", "a", 7)`, "a-07-{x}"},
	{`String.Concat("a", 1, true)`, "a1True"},
	{`string.IsNullOrEmpty("") && string.IsNullOrWhiteSpace("  ") && !string.IsNullOrEmpty("x")`, "True"},
	{`"ABC".Equals("abc", StringComparison.OrdinalIgnoreCase)`, "True"},
	{`string.Equals("a", "A", System.StringComparison.InvariantCultureIgnoreCase)`, "True"},
	{`"a-b-c".IndexOf("-") + "a-b-c".LastIndexOf("-") * 10`, "31"},
	{`"Hello".IndexOf("L", StringComparison.OrdinalIgnoreCase)`, "2"},
	{`"a,,b".Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries).Length`, "2"},
	{`"a b  c".Split(' ').Length`, "4"},
	{`"7".PadLeft(3, '0') + "x".PadRight(3, '.')`, "007x.."},
	{`"--x--".Trim('-') + "|" + "  y ".TrimStart() + "|" + "z..".TrimEnd('.')`, "x|y |z"},
	{`"Hello".Replace("l", "L").ToUpperInvariant().ToLowerInvariant()`, "hello"},
	{`"abc"[1] + "abc".Substring(2)`, "bc"},
	{`new StringBuilder().Append("a").Append(1).AppendFormat("{0}", "b").ToString()`, "a1b"},
	{`Regex.IsMatch("abc123", @"^[a-z]+\d+$")`, "True"},
	{`Regex.Match("id=42;", @"id=(\d+)").Groups[1].Value`, "42"},
	{`Regex.Match("k=v", @"(?<key>\w+)=(?<val>\w+)").Groups["val"].Value`, "v"},
	{`Regex.Replace("a1b22", @"\d+", "#")`, "a#b#"},
	{`Regex.Replace("john smith", @"(\w+) (\w+)", "$2 $1")`, "smith john"},
	{`Regex.IsMatch("ABC", "abc", RegexOptions.IgnoreCase)`, "True"},
	{`Convert.ToBase64String(Encoding.UTF8.GetBytes("hi"))`, "aGk="},
	{`Encoding.UTF8.GetString(Convert.FromBase64String("aGk="))`, "hi"},
	{`Encoding.ASCII.GetBytes("abc").Length`, "3"},
	{`Convert.ToInt32("42") + Convert.ToInt32(1.5) + Convert.ToInt32("ff", 16)`, "299"},
	{`Convert.ToByte(int.Parse("200"))`, "200"},
	{`Guid.NewGuid().ToString().Length`, "36"},
	{`Guid.NewGuid().ToString("N").Length`, "32"},
	{`Guid.Parse("0F8FAD5B-D9CB-469F-A165-70867728950E").ToString()`, "0f8fad5b-d9cb-469f-a165-70867728950e"},
	{`new Guid(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e").ToByteArray()).ToString()`, "0f8fad5b-d9cb-469f-a165-70867728950e"},
	{`new Random().Next(5, 6)`, "5"},
	{`new Random(7).Next(10) < 10`, "True"},
	{`Math.Max(3, 7) + Math.Abs(-2) + Math.Min(1.5, 2)`, "10.5"},
	{`Math.Round(2.5) + Math.Floor(1.9) + Math.Ceiling(1.1) + Math.Pow(2, 3)`, "13"},
	{`int.Parse("12") + long.Parse("30") + (int)double.Parse("1.5")`, "43"},
	{`bool.Parse("true")`, "True"},
	{`Uri.EscapeDataString("a b&c/d")`, "a%20b%26c%2Fd"},
	{`Uri.UnescapeDataString("a%20b%26c")`, "a b&c"},
	{`System.Net.WebUtility.UrlEncode("a b&c")`, "a+b%26c"},
	{`System.Net.WebUtility.HtmlEncode("<a&b>")`, "&lt;a&amp;b&gt;"},
	{`new Uri("https://h.example:8080/p/q?x=1").Host + new Uri("https://h.example:8080/p/q?x=1").Port + new Uri("https://h.example/p/q?x=1").PathAndQuery`, "h.example8080/p/q?x=1"},
	{`Convert.ToBase64String(new HMACSHA256(Encoding.UTF8.GetBytes("key")).ComputeHash(Encoding.UTF8.GetBytes("The quick brown fox jumps over the lazy dog")))`, "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="},
	{`BitConverter.ToString(SHA256.Create().ComputeHash(Encoding.UTF8.GetBytes("abc"))).Replace("-", "").Substring(0, 8)`, "BA7816BF"},
	{`Convert.ToBase64String(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes("")))`, "1B2M2Y8AsgTpgAmY7PhCfg=="},
	{`Convert.ToBase64String(SHA1.Create().ComputeHash(Encoding.UTF8.GetBytes("abc")))`, "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="},
	{`Encoding.UTF8.GetString(Encoding.UTF8.GetBytes("secret").Encrypt("Aes", Convert.FromBase64String("AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"), Convert.FromBase64String("AAECAwQFBgcICQoLDA0ODw==")).Decrypt("Aes", Convert.FromBase64String("AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"), Convert.FromBase64String("AAECAwQFBgcICQoLDA0ODw==")))`, "secret"},
	{`Convert.ToBase64String(Encoding.UTF8.GetBytes("x").Encrypt("Aes", new byte[16], new byte[16]))`, "HdczoExjPBlP3qz5fFnSNw=="},
	{`Convert.ToBase64String(Encoding.UTF8.GetBytes("secret").Encrypt("Aes", Convert.FromBase64String("AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"), Convert.FromBase64String("AAECAwQFBgcICQoLDA0ODw==")))`, "WdafzkiCmid1AF7+VrLdWw=="},
}}

var exprTable8 = exprTable{block: false, cases: []exprCase{
	{`new DateTime(2024, 1, 2, 3, 4, 5).ToString("yyyy-MM-ddTHH:mm:ssZ")`, "2024-01-02T03:04:05Z"},
	{`new DateTime(2024, 1, 2, 15, 4, 5).ToString()`, "1/2/2024 3:04:05 PM"},
	{`new DateTime(2024, 1, 2, 3, 4, 5).ToString("o")`, "2024-01-02T03:04:05.0000000Z"},
	{`new DateTime(2024, 1, 2, 3, 4, 5).ToString("R")`, "Tue, 02 Jan 2024 03:04:05 GMT"},
	{`new DateTime(2024, 1, 31).AddDays(1).AddHours(2).ToString("s")`, "2024-02-01T02:00:00"},
	{`DateTime.Parse("2024-03-04T05:06:07Z").ToString("dd/MM/yy HH.mm.ss")`, "04/03/24 05.06.07"},
	{`DateTime.ParseExact("20240304", "yyyyMMdd", CultureInfo.InvariantCulture).Day`, "4"},
	{`DateTimeOffset.FromUnixTimeSeconds(1700000000).ToString("u")`, "2023-11-14 22:13:20Z"},
	{`DateTimeOffset.FromUnixTimeMilliseconds(1700000000123).ToUnixTimeMilliseconds()`, "1700000000123"},
	{`new DateTimeOffset(new DateTime(2024, 1, 1)).ToUnixTimeSeconds()`, "1704067200"},
	{`((DateTimeOffset)new DateTime(2024, 1, 1)).ToUnixTimeSeconds()`, "1704067200"},
	{`(new DateTime(2024, 1, 2) - new DateTime(2024, 1, 1)).TotalHours`, "24"},
	{`new DateTime(2024, 1, 1) + TimeSpan.FromMinutes(90) > new DateTime(2024, 1, 1, 1, 0, 0)`, "True"},
	{`TimeSpan.FromSeconds(3725).ToString()`, "01:02:05"},
	{`new TimeSpan(1, 2, 3, 4).TotalSeconds`, "93784"},
	{`DateTime.UtcNow > DateTime.UtcNow.AddSeconds(-10)`, "True"},
	{`DateTimeOffset.UtcNow.AddSeconds(30).ToUnixTimeSeconds() > DateTimeOffset.UtcNow.ToUnixTimeSeconds()`, "True"},
	{`context.Timestamp.Year > 2000`, "True"},
	{`context.Elapsed.TotalMilliseconds >= 0`, "True"},
}}

var exprTable9 = exprTable{block: false, cases: []exprCase{
	{`context.Request.Url.Host + ":" + context.Request.Url.Port + context.Request.Url.Path + context.Request.Url.QueryString`, "backend.test:80/items/42?q=search"},
	{`context.Request.Url.Scheme + "|" + context.Request.Url.ToString()`, "http|http://backend.test/items/42?q=search"},
	{`context.Request.OriginalUrl.ToString()`, "https://gw.example.com:8443/echo/items/42?q=search"},
	{`context.Request.OriginalUrl.Host + context.Request.OriginalUrl.Port + context.Request.OriginalUrl.Path`, "gw.example.com8443/echo/items/42"},
	{`context.Request.Url.Query.GetValueOrDefault("q", "")`, "search"},
	{`context.Request.OriginalUrl.Host.Contains("example") && context.Request.Url.Host.Contains("backend")`, "True"},
	{`context.Api.ServiceUrl.Host`, "backend.test"},
	{`context.Deployment.Region + "/" + context.Deployment.ServiceName + "/" + context.Deployment.GatewayId`, "West Europe/contoso/gw-1"},
	{`context.User == null`, "True"},
	{`context.User?.Email ?? "anonymous"`, "anonymous"},
	{`context.LastError == null`, "True"},
	{`context.Response.StatusCode`, "0"},
	{`context.Request.Headers.GetValueOrDefault("Authorization").AsBasic().UserId`, "alice"},
	{`context.Request.Headers.GetValueOrDefault("Authorization").AsBasic().Password`, "s3cret"},
	{`"garbage".AsBasic() == null`, "True"},
	{`context.Request.Headers.GetValueOrDefault("X-Token", "").AsJwt()?.Subject`, "user-1"},
	{`context.Request.Headers.GetValueOrDefault("X-Token", "").AsJwt().Claims.GetValueOrDefault("name", "?")`, "Ann"},
	{`context.Request.Headers.GetValueOrDefault("X-Token", "").AsJwt().Claims["roles"][1]`, "r2"},
	{`context.Request.Headers.GetValueOrDefault("X-Token", "").AsJwt().Audiences.Contains("web")`, "True"},
	{`context.Request.Headers.GetValueOrDefault("X-Token", "").AsJwt().ExpirationTime.Value.Year`, "2023"},
	{`"not.a.jwt".AsJwt() == null`, "True"},
	{`context.Request.Headers.GetValueOrDefault("X-Token", "").TryParseJwt(out var jwt) ? jwt.Algorithm : "none"`, "HS256"},
	{`context.Variables.Count`, "4"},
	{`context.Tracing`, "False"},
}}

func TestLastErrorReasonFromPolicies(t *testing.T) {
	c := newCtx("GET", "/")
	c.LastError = &RuntimeError{Source: "forward-request", File: "apis/echo/operations/get", Section: Backend,
		Reason: "x", Err: ReasonError("BackendConnectionFailure", "Error occured while calling backend service.", nil)}
	e, ee := compileExpression(`context.LastError.Source + "|" + context.LastError.Reason + "|" + context.LastError.Message + "|" + context.LastError.Scope + "|" + context.LastError.Section`, false)
	if ee != nil {
		t.Fatal(ee.msg)
	}
	c.budget = 100
	v, err := e.eval(c)
	if err != nil || v.String() != "forward-request|BackendConnectionFailure|Error occured while calling backend service.|operation|backend" {
		t.Fatalf("%q %v", v.String(), err)
	}
}

func TestExpressionLibraryMore(t *testing.T) {
	runExprTable(t, false, []exprCase{
		{`XElement.Parse("<a x=\"1\"><b>t</b><c/></a>").ToString()`, `<a x="1"><b>t</b><c /></a>`},
		{`new XElement("r", new XAttribute("k", "v"), new XElement("c", "t")).ToString()`, `<r k="v"><c>t</c></r>`},
		{`XDocument.Parse("<a><b><c>1</c></b><c>2</c></a>").Root.Elements().Count()`, "2"},
		{`JObject.Parse("{\"a b\":{\"c\":[5]}}").SelectToken("['a b'].c[0]").ToString()`, "5"},
		{`JObject.Parse("{\"a\":{\"b\":[1,{\"c\":2}]}}").SelectToken("a.b[1].c").Path`, "a.b[1].c"},
		{`JsonConvert.DeserializeObject<JObject>("{\"x\":1}")["x"].Value<int>()`, "1"},
		{`JsonConvert.SerializeObject("q\"uote")`, `"q\"uote"`},
		{`JsonConvert.SerializeObject(new[] { "a", "b" })`, `["a","b"]`},
		{`JObject.Parse("{\"f\":1.0,\"n\":null,\"t\":true}").ToString(Formatting.None)`, `{"f":1.0,"n":null,"t":true}`},
		{`TimeSpan.Parse("1.02:03:04").TotalMinutes`, "1563.0666666666666"},
		{`DateTime.TryParse("nope", out var d) ? "y" : "n"`, "n"},
		{`"a,b,c,d".Split(new[] { ',' }, 2)[1]`, "b,c,d"},
		{`string.Format("[{0,4}|{1,-3}]", 7, "x")`, "[   7|x  ]"},
		{`Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e").ToString("B")`, "{0f8fad5b-d9cb-469f-a165-70867728950e}"},
		{`new StringBuilder("b").Insert(0, "a").AppendLine("c").Replace("\n", "!").ToString()`, "abc!"},
		{`Math.Round(1.26, 1) + Convert.ToString(5, 2)`, "1.3101"},
		{`System.Web.HttpUtility.UrlDecode("a+b%26")`, "a b&"},
		{`Encoding.Unicode.GetString(Encoding.Unicode.GetBytes("hé"))`, "hé"},
		{`Regex.Matches("a1b2c3", @"\d").Count()`, "3"},
		{`string.Join("|", Regex.Split("a1b22c", @"\d+"))`, "a|b|c"},
		{`Regex.Match("a1b2", @"\d").NextMatch().Value`, "2"},
		{`new Uri(new Uri("https://h/a/b").ToString()).AbsoluteUri`, "https://h/a/b"},
		{`new Uri("https://h/a/b", "../c").AbsolutePath`, "/c"},
		{`"a,b".Split(',').Concat("c".Split(',')).Reverse().ElementAt(0)`, "c"},
		{`"ab,cd".Split(',').SelectMany(s => s.ToCharArray()).Count()`, "4"},
		{`"a=1;b=2".Split(';').ToDictionary(p => p.Split('=')[0], p => p.Split('=')[1])["b"]`, "2"},
		{`new DateTime(2024, 3, 9, 7, 5, 3, 42).ToString("yyyy-MM-ddTHH:mm:ss.fffK")`, "2024-03-09T07:05:03.042Z"},
		{`new DateTime(2024, 3, 9).ToString("dddd d MMMM yy")`, "Saturday 9 March 24"},
		{`DateTimeOffset.Parse("2024-01-02T03:04:05+02:00").ToUnixTimeSeconds()`, "1704157445"},
		{`new TimeSpan(0, 0, 90) + TimeSpan.FromMinutes(1) == TimeSpan.FromSeconds(150)`, "True"},
		{`(context.Variables["n"] ?? 0).ToString() + context.Variables.GetValueOrDefault<int>("n", 1)`, "55"},
	})
	runExprTable(t, true, []exprCase{
		{`var d = new Dictionary<string, int>(); d.Add("a", 1); int v; return d.TryGetValue("a", out v) ? v + 1 : 0;`, "2"},
		{`var l = new List<int> { 3, 1, 2 }; l.Remove(1); l.Add(9); return string.Join(",", l.OrderBy(x => x)) + ":" + l.IndexOf(9);`, "2,3,9:2"},
		{`var x = XDocument.Parse("<a><b v=\"1\"/><b v=\"2\"/></a>"); return string.Join(",", x.Descendants("b").Select(e => e.Attribute("v").Value));`, "1,2"},
		{`var doc = new XmlDocument(); doc.LoadXml("<a><b>1</b><c><b>2</b></c></a>"); return doc.SelectNodes("//b").Count() + doc.DocumentElement.SelectSingleNode("c/b").InnerText;`, "22"},
		{`var o = new JObject(); foreach (var h in context.Request.Headers) { if (h.Key.StartsWith("A")) o[h.Key] = string.Join(",", (string[])h.Value); } return o.ToString(Formatting.None);`, `{"Accept":"text/plain","Authorization":"Basic YWxpY2U6czNjcmV0"}`},
		{`var s = 0; foreach (var p in JObject.Parse("{\"a\":1,\"b\":2}").Properties()) { s += (int)p.Value; } return s;`, "3"},
		{`try { return JObject.FromObject(new { { "x" } }).ToString(); } catch (ArgumentException e) { return "refused"; }`, "refused"},
		{`try { JObject.Parse("{bad"); return "no"; } catch (JsonReaderException e) { return "json"; } catch (Exception e) { return "other"; }`, "json"},
	})
}

// context.Request.Url is the URL the request goes to, so it follows
// set-backend-service (APIM's semantics; OriginalUrl keeps the gateway URL).
func TestRequestURLFollowsBackend(t *testing.T) {
	p := compilePipeline(t, Options{}, op(`<policies><inbound><set-backend-service base-url="https://hello-weu.example.net/v1/"/>
		<set-variable name="u" value="@(context.Request.Url.ToString() + &quot;|&quot; + context.Request.OriginalUrl.Host)"/></inbound></policies>`))
	c := newCtx("GET", "/hello", "Host", "gw.example")
	if r := p.Run(c, Inbound); r.Outcome != Continue {
		t.Fatalf("%+v", r)
	}
	if v, _ := c.Variable("u"); v.String() != "https://hello-weu.example.net/v1/hello|gw.example" {
		t.Fatalf("%q", v.String())
	}
}
