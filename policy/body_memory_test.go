package policy

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unsafe"
)

// countingBudget is a MemoryBudget with a fixed room.
type countingBudget struct{ used, room int }

func (b *countingBudget) Reserve(n int) bool {
	if b.used+n > b.room {
		return false
	}
	b.used += n
	return true
}

// TestBodyMemoryCharges: the copies body-consuming policies make are charged
// to Context.Memory (what each charges, roughly: the new body), views are
// not, and a copy that does not fit fails the request with ErrMemory as a
// 503 with Retry-After and LastError.Reason GatewayBodyMemoryExhausted,
// which try/catch does not catch.
func TestBodyMemoryCharges(t *testing.T) {
	big := strings.Repeat("abcdefgh", 16<<10) // 128 KiB: viewed, not copied
	json := `{"a":"` + strings.Repeat("x", 100<<10) + `"}`
	cases := []struct {
		name, doc, body string
		min, max        int // charged bytes
	}{
		{"set-body view", `<set-body>@(context.Request.Body.As<string>(preserveContent: true))</set-body>`, big, 0, 0},
		{"set-body upper", `<set-body>@(context.Request.Body.As<string>(preserveContent: true).ToUpperInvariant())</set-body>`, big, len(big), 2 * len(big)},
		{"set-body small copy", `<set-body>@(context.Request.Body.As<string>(preserveContent: true))</set-body>`, "small", 5, 64},
		{"find-and-replace", `<find-and-replace from="a" to="AA"/>`, big, len(big) + len(big)/8, len(big) + len(big)/8},
		{"find-and-replace no match", `<find-and-replace from="z" to="y"/>`, big, 0, 0},
		{"json-to-xml", `<json-to-xml apply="always" consider-accept-header="false"/>`, json, len(json) - 64, 2 * len(json)},
		{"As<JObject>", `<set-variable name="j" value="@(context.Request.Body.As<JObject>(preserveContent: true))"/>`, json, len(json), 8 * len(json)},
		{"liquid", `<set-body template="liquid">{{body.a}}{{body.a}}</set-body>`, json, 200 << 10, 201 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := compilePipeline(t, Options{}, op(`<policies><inbound>`+tc.doc+`</inbound></policies>`))
			c := newCtx("POST", "/x", "Content-Type", "application/json")
			c.Request.Body, c.Request.Buffered = []byte(tc.body), true
			b := &countingBudget{room: 1 << 30}
			c.Memory = b
			if res := p.Run(c, Inbound); res.Outcome != Continue {
				t.Fatalf("%v: %v", res.Outcome, res.Err)
			}
			if b.used < tc.min || b.used > tc.max {
				t.Errorf("charged %d bytes, want %d..%d", b.used, tc.min, tc.max)
			}
		})
	}

	t.Run("view shares the body", func(t *testing.T) {
		p := compilePipeline(t, Options{}, op(`<policies><inbound><set-body>@(context.Request.Body.As<string>(preserveContent: true))</set-body></inbound></policies>`))
		c := newCtx("POST", "/x")
		in := []byte(big)
		c.Request.Body, c.Request.Buffered = in, true
		if res := p.Run(c, Inbound); res.Outcome != Continue {
			t.Fatal(res.Err)
		}
		if unsafe.SliceData(c.Request.Body) != unsafe.SliceData(in) || !bytes.Equal(c.Request.Body, in) {
			t.Error("set-body of As<string>() copied the body")
		}
	})

	t.Run("over the budget", func(t *testing.T) {
		doc := `<policies><inbound><set-body>@{ try { var s = context.Request.Body.As<string>(preserveContent: true); return s + s; } catch (Exception e) { return "caught"; } }</set-body></inbound>` +
			`<on-error><set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header>` +
			`<set-header name="X-Message" exists-action="override"><value>@(context.LastError.Message)</value></set-header></on-error></policies>`
		p := compilePipeline(t, Options{}, op(doc))
		c := newCtx("POST", "/x")
		c.Request.Body, c.Request.Buffered = []byte(big), true
		c.Memory = &countingBudget{room: len(big)}
		res := p.Run(c, Inbound)
		if res.Outcome != Fail || !errors.Is(res.Err, ErrMemory) {
			t.Fatalf("%v %v", res.Outcome, res.Err)
		}
		if c.Response.StatusCode != 503 || string(c.Response.Body) != `{"statusCode":503,"message":"`+MsgMemory+`"}` {
			t.Fatalf("response %d %s", c.Response.StatusCode, c.Response.Body)
		}
		if ra, _ := c.Response.Headers.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After %q", ra)
		}
		if res := p.Run(c, OnError); res.Outcome != Continue {
			t.Fatal(res.Err)
		}
		if r, _ := c.Response.Headers.Get("X-Reason"); r != "GatewayBodyMemoryExhausted" {
			t.Errorf("LastError.Reason %q", r)
		}
		if m, _ := c.Response.Headers.Get("X-Message"); m != MsgMemory {
			t.Errorf("LastError.Message %q", m)
		}
	})
}
