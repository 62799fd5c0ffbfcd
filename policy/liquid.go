package policy

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/osteele/liquid"
)

// set-body template="liquid": a Liquid template (github.com/osteele/liquid)
// rendered with APIM's model: `body` (the request body in inbound/backend,
// the response body in outbound/on-error, parsed when it is JSON, else the
// text) and `context` (Request: Method, Url, OriginalUrl, IpAddress, Headers,
// MatchedParameters, HasBody; Response: StatusCode, StatusReason, Headers;
// Api, Operation, Product, Subscription, Variables; User is null). Headers
// iterate as {Key, Value} pairs (`{% for h in context.Request.Headers %}`) and
// index by name. Inside the template {{…}} is Liquid, not a named value. The
// template is parsed at compile time; a syntax error is a compile error.

var liquidEngine = liquid.NewEngine()

type liquidBody struct {
	tpl    *liquid.Template
	target target
}

func (b *builder) compileLiquid(n *Node) *liquidBody {
	src := n.Text
	if len(n.Children) > 0 {
		src = n.Inner(b.doc)
	}
	tpl, err := liquidEngine.ParseString(src)
	if err != nil {
		b.errorAt(n, n.TextPos, ErrSyntax, "liquid template: %v", err)
		return nil
	}
	b.readsBody(b.target)
	return &liquidBody{tpl: tpl, target: b.target}
}

func (l *liquidBody) render(c *Context) ([]byte, error) {
	raw := c.Request.Body
	if l.target == toResponse {
		raw = c.Response.Body
	}
	out, err := l.tpl.Render(liquid.Bindings{"body": liquidBodyValue(raw), "context": liquidContext(c)})
	if err != nil {
		return nil, evalErr("liquid template: %v", err)
	}
	return out, nil
}

func liquidBodyValue(raw []byte) any {
	var v any
	if len(raw) > 0 && json.Unmarshal(raw, &v) == nil {
		return v
	}
	return string(raw)
}

// liquidHeaders is a header list for templates: it indexes by name (a map)
// and iterates as sorted {Key, Value} pairs (its Len and Index methods make
// it iterable for the engine's for tag).
type liquidHeaders map[string]any

type liquidPair struct{ Key, Value string }

func (h liquidHeaders) keys() []string {
	k := make([]string, 0, len(h))
	for name := range h {
		k = append(k, name)
	}
	sort.Strings(k)
	return k
}

func (h liquidHeaders) Len() int { return len(h) }

func (h liquidHeaders) Index(i int) any {
	k := h.keys()[i]
	return liquidPair{Key: k, Value: h[k].(string)}
}

func headersFor(hs *Headers) liquidHeaders {
	out := liquidHeaders{}
	for _, f := range hs.List {
		if v, ok := out[f.Name]; ok {
			out[f.Name] = v.(string) + "," + f.Value
		} else {
			out[f.Name] = f.Value
		}
	}
	return out
}

func paramsFor(ps *Params) map[string]any {
	out := map[string]any{}
	for _, p := range ps.List {
		out[p.Name] = p.Value
	}
	return out
}

// liquidValue turns a context variable into what a template sees: strings,
// numbers, booleans and arrays as they are; objects (JObject, JArray…)
// through their JSON text, so `vars['name']` indexes them.
func liquidValue(v Value) any {
	switch v.k {
	case kNull:
		if v.o == nil {
			return nil
		}
	case kBool:
		return v.b
	case kInt:
		return v.i
	case kString:
		return v.s
	case kStrings:
		return v.a
	}
	s := v.String()
	var x any
	if json.Unmarshal([]byte(s), &x) == nil {
		return x
	}
	return s
}

func liquidContext(c *Context) map[string]any {
	host, _ := c.Request.Headers.Get("Host")
	url := map[string]any{"Scheme": "http", "Host": host, "Path": c.Request.Path, "Query": paramsFor(&c.Request.Query),
		"QueryString": string(AppendQuery(nil, &c.Request.Query))}
	if h, p, ok := strings.Cut(host, ":"); ok {
		if n, err := strconv.Atoi(p); err == nil {
			url["Host"], url["Port"] = h, n
		}
	} else {
		url["Port"] = 80
	}
	vars := map[string]any{}
	for k, v := range c.vars {
		vars[k] = liquidValue(v)
	}
	return map[string]any{
		"Request": map[string]any{"Method": c.Request.Method, "Url": url, "OriginalUrl": url, "IpAddress": c.Request.ClientIP.String(),
			"Headers": headersFor(&c.Request.Headers), "MatchedParameters": paramsFor(&c.Request.MatchedParameters), "HasBody": len(c.Request.Body) > 0},
		"Response":     map[string]any{"StatusCode": c.Response.StatusCode, "StatusReason": c.Response.Reason, "Headers": headersFor(&c.Response.Headers)},
		"Api":          map[string]any{"Name": c.ID.APIName, "Id": c.ID.APIName, "Path": c.ID.APIPath},
		"Operation":    map[string]any{"Name": c.ID.OperationName, "Id": c.ID.OperationName, "Method": c.ID.OperationMethod},
		"Product":      map[string]any{"Name": c.ID.ProductName, "Id": c.ID.ProductName},
		"Subscription": map[string]any{"Id": c.ID.SubscriptionID, "Name": c.ID.SubscriptionName, "Key": c.ID.SubscriptionKey},
		"User":         nil,
		"Variables":    vars,
		"RequestId":    c.RequestID,
	}
}
