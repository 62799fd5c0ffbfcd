package policy

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// This file is APIM's `context` object model for expressions. Every view is a
// named pointer type over *Context, so reading context members does not
// allocate.

// Deployment is context.Deployment.
type Deployment struct {
	Region, ServiceName, ServiceID, GatewayID string
}

type (
	ctxView        Context
	reqView        Context
	respView       Context
	reqURLView     Context
	reqOrigURLView Context
	reqHeaders     Context
	respHeaders    Context
	reqQuery       Context
	reqMatched     Context
	varsView       Context
	subView        Context
	productView    Context
	apiView        Context
	opView         Context
	deployView     Context
	lastErrView    Context
	reqBody        Context
	respBody       Context
)

func (*ctxView) typeName() string { return "context" }
func (*ctxView) String() string {
	return "Microsoft.WindowsAzure.ApiManagement.Proxy.Gateway.Policies.Expressions.ContextExpressionValue"
}
func (*reqView) typeName() string          { return "IRequest" }
func (*reqView) String() string            { return "IRequest" }
func (*respView) typeName() string         { return "IResponse" }
func (*respView) String() string           { return "IResponse" }
func (v *reqURLView) typeName() string     { return "IUrl" }
func (v *reqURLView) String() string       { return requestURL((*Context)(v), false) }
func (v *reqOrigURLView) typeName() string { return "IUrl" }
func (v *reqOrigURLView) String() string   { return requestURL((*Context)(v), true) }
func (*reqHeaders) typeName() string       { return "IHeaders" }
func (*reqHeaders) String() string         { return "IHeaders" }
func (*respHeaders) typeName() string      { return "IHeaders" }
func (*respHeaders) String() string        { return "IHeaders" }
func (*reqQuery) typeName() string         { return "IQuery" }
func (*reqQuery) String() string           { return "IQuery" }
func (*reqMatched) typeName() string       { return "IParams" }
func (*reqMatched) String() string         { return "IParams" }
func (*varsView) typeName() string         { return "IVariables" }
func (*varsView) String() string           { return "IVariables" }
func (*subView) typeName() string          { return "ISubscription" }
func (*subView) String() string            { return "ISubscription" }
func (*productView) typeName() string      { return "IProduct" }
func (*productView) String() string        { return "IProduct" }
func (*apiView) typeName() string          { return "IApi" }
func (*apiView) String() string            { return "IApi" }
func (*opView) typeName() string           { return "IOperation" }
func (*opView) String() string             { return "IOperation" }
func (*deployView) typeName() string       { return "IDeployment" }
func (*deployView) String() string         { return "IDeployment" }
func (*lastErrView) typeName() string      { return "ILastError" }
func (*lastErrView) String() string        { return "ILastError" }
func (*reqBody) typeName() string          { return "IMessageBody" }
func (*reqBody) String() string            { return "IMessageBody" }
func (*respBody) typeName() string         { return "IMessageBody" }
func (*respBody) String() string           { return "IMessageBody" }

func ctxOf(v Value) *Context {
	switch o := v.o.(type) {
	case *ctxView:
		return (*Context)(o)
	case *reqView:
		return (*Context)(o)
	case *respView:
		return (*Context)(o)
	case *reqURLView:
		return (*Context)(o)
	case *reqOrigURLView:
		return (*Context)(o)
	case *subView:
		return (*Context)(o)
	case *productView:
		return (*Context)(o)
	case *apiView:
		return (*Context)(o)
	case *opView:
		return (*Context)(o)
	case *deployView:
		return (*Context)(o)
	case *lastErrView:
		return (*Context)(o)
	}
	return nil
}

// urlParts are the parts of context.Request.Url (original false) — the URL
// the request goes to: the backend service URL (Upstream.BaseURL, changed by
// set-backend-service) plus the operation path and query, as in APIM — or of
// context.Request.OriginalUrl: the gateway URL the client called (Host
// header, X-Forwarded-Proto or https, the API path suffix).
func urlParts(c *Context, original bool) (scheme, host string, port int64, base, path string) {
	if !original && c.Upstream.BaseURL != "" {
		u := c.Upstream.BaseURL
		scheme, rest, found := strings.Cut(u, "://")
		if !found {
			scheme, rest = "https", u
		}
		hostport, basePath := rest, ""
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			hostport, basePath = rest[:i], strings.TrimSuffix(rest[i:], "/")
		}
		host, port = splitHostPort(hostport, strings.ToLower(scheme))
		return strings.ToLower(scheme), host, port, basePath, c.Request.Path
	}
	scheme = requestScheme(c)
	h, _ := c.Request.Headers.Get("Host")
	host, port = splitHostPort(h, scheme)
	if original && c.ID.APIPath != "" {
		base = "/" + strings.Trim(c.ID.APIPath, "/")
	}
	return scheme, host, port, base, c.Request.Path
}

func splitHostPort(h, scheme string) (string, int64) {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		if n, err := strconv.Atoi(h[i+1:]); err == nil {
			return h[:i], int64(n)
		}
	}
	if scheme == "http" {
		return h, 80
	}
	return h, 443
}

func urlOf(v Value) (*Context, bool) {
	switch o := v.o.(type) {
	case *reqURLView:
		return (*Context)(o), false
	case *reqOrigURLView:
		return (*Context)(o), true
	}
	return nil, false
}

// requestURL renders a request URL: scheme://host[:port]/path?query.
func requestURL(c *Context, original bool) string {
	scheme, host, port, base, path := urlParts(c, original)
	var b strings.Builder
	b.WriteString(scheme + "://" + host)
	if !(scheme == "http" && port == 80 || scheme == "https" && port == 443) {
		b.WriteString(":" + strconv.FormatInt(port, 10))
	}
	b.WriteString(base + path)
	if len(c.Request.Query.List) > 0 {
		b.WriteByte('?')
		b.Write(AppendQuery(nil, &c.Request.Query))
	}
	return b.String()
}

// requestScheme is X-Forwarded-Proto when a front end set it, else https (the
// scheme APIM clients use; the appliance terminates TLS in front).
func requestScheme(c *Context) string {
	if p, ok := c.Request.Headers.Get("X-Forwarded-Proto"); ok && p != "" {
		return strings.ToLower(p)
	}
	return "https"
}

func sub(c *Context) (*Context, error) {
	if c.ID.SubscriptionID == "" {
		return nil, nullRef("context.Subscription (the request has no subscription)")
	}
	return c, nil
}

func init() {
	ctx := regType("context")
	ctx.p("Request", "IRequest", func(c *Context, v Value) (Value, error) { return objValue((*reqView)(ctxOf(v))), nil })
	ctx.p("Response", "IResponse", func(c *Context, v Value) (Value, error) { return objValue((*respView)(ctxOf(v))), nil })
	ctx.p("Variables", "IVariables", func(c *Context, v Value) (Value, error) { return objValue((*varsView)(ctxOf(v))), nil })
	ctx.p("Subscription", "ISubscription", func(c *Context, v Value) (Value, error) {
		if ctxOf(v).ID.SubscriptionID == "" {
			return Value{}, nil
		}
		return objValue((*subView)(ctxOf(v))), nil
	})
	ctx.p("Product", "IProduct", func(c *Context, v Value) (Value, error) {
		if ctxOf(v).ID.ProductName == "" {
			return Value{}, nil
		}
		return objValue((*productView)(ctxOf(v))), nil
	})
	ctx.p("Api", "IApi", func(c *Context, v Value) (Value, error) { return objValue((*apiView)(ctxOf(v))), nil })
	ctx.p("Operation", "IOperation", func(c *Context, v Value) (Value, error) { return objValue((*opView)(ctxOf(v))), nil })
	ctx.p("User", "IUser", func(c *Context, v Value) (Value, error) { return Value{}, nil })
	ctx.p("Deployment", "IDeployment", func(c *Context, v Value) (Value, error) { return objValue((*deployView)(ctxOf(v))), nil })
	ctx.p("LastError", "ILastError", func(c *Context, v Value) (Value, error) {
		if ctxOf(v).LastError == nil {
			return Value{}, nil
		}
		return objValue((*lastErrView)(ctxOf(v))), nil
	})
	ctx.p("RequestId", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).RequestID), nil })
	ctx.p("Timestamp", "DateTime", func(c *Context, v Value) (Value, error) {
		t := ctxOf(v).Start
		if t.IsZero() {
			t = time.Now()
		}
		return objValue(dateTime{t: t.UTC()}), nil
	})
	ctx.p("Elapsed", "TimeSpan", func(c *Context, v Value) (Value, error) {
		t := ctxOf(v).Start
		if t.IsZero() {
			return objValue(tSpan(0)), nil
		}
		return objValue(tSpan(time.Since(t))), nil
	})
	ctx.p("Tracing", tyBool, func(c *Context, v Value) (Value, error) { return BoolValue(ctxOf(v).Tracer != nil), nil })
	ctx.m("Trace", 1, 1, tyVoid, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		if t := ctxOf(v).Tracer; t != nil {
			t.Trace("expression", "information", a[0].String(), nil)
		}
		return Value{}, nil
	}, "message")

	req := regType("IRequest")
	req.p("Method", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).Request.Method), nil })
	req.p("Url", "IUrl", func(c *Context, v Value) (Value, error) { return objValue((*reqURLView)(ctxOf(v))), nil })
	req.p("OriginalUrl", "IUrl", func(c *Context, v Value) (Value, error) { return objValue((*reqOrigURLView)(ctxOf(v))), nil })
	req.p("Headers", "IHeaders", func(c *Context, v Value) (Value, error) { return objValue((*reqHeaders)(ctxOf(v))), nil })
	req.p("MatchedParameters", "IParams", func(c *Context, v Value) (Value, error) { return objValue((*reqMatched)(ctxOf(v))), nil })
	req.p("Body", "IMessageBody", func(c *Context, v Value) (Value, error) { return objValue((*reqBody)(ctxOf(v))), nil })
	req.p("IpAddress", tyString, func(c *Context, v Value) (Value, error) {
		ip := ctxOf(v).Request.ClientIP
		if !ip.IsValid() {
			return Value{}, nil
		}
		return str(ip.String()), nil
	})
	req.p("Certificate", "X509Certificate2", func(c *Context, v Value) (Value, error) { return Value{}, nil })

	url := regType("IUrl")
	url.p("Scheme", tyString, func(c *Context, v Value) (Value, error) {
		scheme, _, _, _, _ := urlParts(urlOf(v))
		return str(scheme), nil
	})
	url.p("Host", tyString, func(c *Context, v Value) (Value, error) {
		_, host, _, _, _ := urlParts(urlOf(v))
		return str(host), nil
	})
	url.p("Port", tyInt, func(c *Context, v Value) (Value, error) {
		_, _, port, _, _ := urlParts(urlOf(v))
		return IntValue(port), nil
	})
	url.p("Path", tyString, func(c *Context, v Value) (Value, error) {
		_, _, _, base, path := urlParts(urlOf(v))
		if base == "" {
			return str(path), nil
		}
		return str(base + path), nil
	})
	url.p("Query", "IQuery", func(c *Context, v Value) (Value, error) { return objValue((*reqQuery)(ctxOf(v))), nil })
	url.p("QueryString", tyString, func(c *Context, v Value) (Value, error) {
		q := &ctxOf(v).Request.Query
		if len(q.List) == 0 {
			return str(""), nil
		}
		return str("?" + string(AppendQuery(nil, q))), nil
	})

	// Dictionaries: headers (string[] values, GetValueOrDefault joins with
	// ","), query (same), matched parameters (string values), variables.
	hdr := regType("IHeaders", "IEnumerable")
	dict(hdr, func(c *Context, v Value) *Headers {
		switch o := v.o.(type) {
		case *reqHeaders:
			return &(*Context)(o).Request.Headers
		case *respHeaders:
			return &(*Context)(o).Response.Headers
		case *respValHeaders:
			return &o.Headers
		}
		return nil
	})
	q := regType("IQuery", "IEnumerable")
	params(q, true, func(v Value) *Params { return &(*Context)(v.o.(*reqQuery)).Request.Query })
	mp := regType("IParams", "IEnumerable")
	params(mp, false, func(v Value) *Params { return &(*Context)(v.o.(*reqMatched)).Request.MatchedParameters })

	vars := regType("IVariables", "IEnumerable")
	vars.m("ContainsKey", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		_, ok := (*Context)(v.o.(*varsView)).vars[a[0].s]
		return BoolValue(ok), nil
	}, "key")
	gv := vars.m("GetValueOrDefault", 1, 2, tyAny, func(c *Context, v Value, a []Value, targ string) (Value, error) {
		if a[0].k != kString {
			return Value{}, evalErr("GetValueOrDefault: the name is %s, not string", runtimeType(a[0]))
		}
		x, found := (*Context)(v.o.(*varsView)).vars[a[0].s]
		t := tyAny
		if targ != "" {
			t = normType(targ)
		}
		if !found {
			if len(a) == 2 {
				return a[1], nil
			}
			return zeroOf(t), nil
		}
		return castTo(x, t)
	}, "variableName", "defaultValue")
	gv.ret = func(targ string, _ []typ) typ {
		if targ == "" {
			return tyAny
		}
		return normType(targ)
	}
	gv.check = func(args []typ, targ string) string {
		if targ != "" && !castable(normType(targ)) {
			return "type " + targ + " is not supported"
		}
		if len(args) > 0 && args[0] != tyString && args[0] != tyAny {
			return "the variable name must be a string, found " + string(args[0])
		}
		if targ != "" && len(args) == 2 && primitive(normType(targ)) && primitive(args[1]) && normType(targ) != args[1] {
			return "expected " + string(normType(targ)) + ", found " + string(args[1])
		}
		return ""
	}
	vars.m("TryGetValue", 2, 2, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		x, found := (*Context)(v.o.(*varsView)).vars[a[0].s]
		c.x.out = x
		return BoolValue(found), nil
	}, "key", "value").out = true
	vars.index = func(c *Context, v, k Value) (Value, error) {
		x, found := (*Context)(v.o.(*varsView)).vars[k.s]
		if !found {
			return Value{}, evalErr("the key %q was not present in context.Variables", k.s)
		}
		return x, nil
	}
	vars.indexT = tyAny
	vars.p("Count", tyInt, func(c *Context, v Value) (Value, error) {
		return IntValue(int64(len((*Context)(v.o.(*varsView)).vars))), nil
	})
	vars.p("Keys", "List", func(c *Context, v Value) (Value, error) {
		var ks []string
		for k := range (*Context)(v.o.(*varsView)).vars {
			ks = append(ks, k)
		}
		return objValue(stringsList(ks)), nil
	})

	s := regType("ISubscription")
	s.p("Id", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.SubscriptionID), nil })
	s.p("Key", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.SubscriptionKey), nil })
	s.p("PrimaryKey", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.SubscriptionKey), nil })
	s.p("SecondaryKey", tyString, func(c *Context, v Value) (Value, error) { return Value{}, nil })
	s.p("Name", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.SubscriptionName), nil })
	s.p("CreatedDate", "DateTime", func(c *Context, v Value) (Value, error) { return Value{}, nil })
	s.p("StartDate", "DateTime", func(c *Context, v Value) (Value, error) { return Value{}, nil })
	s.p("EndDate", "DateTime", func(c *Context, v Value) (Value, error) { return Value{}, nil })

	p := regType("IProduct")
	p.p("Name", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.ProductName), nil })
	p.p("Id", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.ProductName), nil })

	api := regType("IApi")
	api.p("Name", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.APIName), nil })
	api.p("Id", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.APIName), nil })
	api.p("Path", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.APIPath), nil })
	api.p("Version", tyString, func(c *Context, v Value) (Value, error) { return Value{}, nil })
	api.p("Revision", tyString, func(c *Context, v Value) (Value, error) { return str("1"), nil })
	api.p("IsCurrentRevision", tyBool, func(c *Context, v Value) (Value, error) { return BoolValue(true), nil })
	api.p("ServiceUrl", "Uri", func(c *Context, v Value) (Value, error) {
		return parseURI(ctxOf(v).Upstream.BaseURL)
	})

	op := regType("IOperation")
	op.p("Name", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.OperationName), nil })
	op.p("Id", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.OperationName), nil })
	op.p("Method", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).ID.OperationMethod), nil })
	op.p("UrlTemplate", tyString, func(c *Context, v Value) (Value, error) { return Value{}, nil })

	user := regType("IUser")
	for _, n := range []string{"Id", "Email", "FirstName", "LastName", "Note"} {
		user.p(n, tyString, func(c *Context, v Value) (Value, error) { return Value{}, nil })
	}
	user.p("Groups", "List", func(c *Context, v Value) (Value, error) { return Value{}, nil })

	d := regType("IDeployment")
	d.p("Region", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).Deployment.Region), nil })
	d.p("ServiceName", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).Deployment.ServiceName), nil })
	d.p("ServiceId", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).Deployment.ServiceID), nil })
	d.p("GatewayId", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).Deployment.GatewayID), nil })

	le := regType("ILastError")
	le.p("Source", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).LastError.Source), nil })
	le.p("Reason", tyString, func(c *Context, v Value) (Value, error) { return str(lastErrorReason(ctxOf(v).LastError)), nil })
	le.p("Message", tyString, func(c *Context, v Value) (Value, error) { return str(lastErrorMessage(ctxOf(v).LastError)), nil })
	le.p("Scope", tyString, func(c *Context, v Value) (Value, error) { return str(lastErrorScope(ctxOf(v).LastError)), nil })
	le.p("Section", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).LastError.Section.String()), nil })
	le.p("Path", tyString, func(c *Context, v Value) (Value, error) { return str(lastErrorPath(ctxOf(v).LastError)), nil })
	le.p("PolicyId", tyString, func(c *Context, v Value) (Value, error) { return str(ctxOf(v).LastError.PolicyID), nil })

	resp := regType("IResponse")
	resp.p("StatusCode", tyInt, func(c *Context, v Value) (Value, error) {
		if r, ok := v.o.(*responseValue); ok {
			return IntValue(int64(r.StatusCode)), nil
		}
		return IntValue(int64(ctxOf(v).Response.StatusCode)), nil
	})
	resp.p("StatusReason", tyString, func(c *Context, v Value) (Value, error) {
		if r, ok := v.o.(*responseValue); ok {
			return str(r.Reason), nil
		}
		return str(ctxOf(v).Response.Reason), nil
	})
	resp.p("Headers", "IHeaders", func(c *Context, v Value) (Value, error) {
		if r, ok := v.o.(*responseValue); ok {
			return objValue((*respValHeaders)(r)), nil
		}
		return objValue((*respHeaders)(ctxOf(v))), nil
	})
	resp.p("Body", "IMessageBody", func(c *Context, v Value) (Value, error) {
		if r, ok := v.o.(*responseValue); ok {
			return objValue((*respValBody)(r)), nil
		}
		return objValue((*respBody)(ctxOf(v))), nil
	})
	registerBody()
}

// ReasonError is an error a policy returns to name APIM's
// context.LastError.Reason (e.g. "BackendConnectionFailure") and Message for
// its failure; it wraps kind (ErrEval if nil) for errors.Is.
func ReasonError(reason, message string, kind error) error {
	if kind == nil {
		kind = ErrEval
	}
	return &reasonErr{reason: reason, msg: message, kind: kind}
}

type reasonErr struct {
	reason, msg string
	kind        error
}

func (e *reasonErr) Error() string { return e.msg }
func (e *reasonErr) Unwrap() error { return e.kind }

// lastErrorReason is APIM's LastError.Reason code for the failures this
// gateway raises.
func lastErrorReason(e *RuntimeError) string {
	var re *reasonErr
	switch {
	case e.Code != "":
		return e.Code
	case errors.As(e.Err, &re):
		return re.reason
	case errors.Is(e.Err, ErrMemory):
		return memoryReason
	case errors.Is(e.Err, ErrEval), errors.Is(e.Err, ErrBudget):
		return "ExpressionValueEvaluationFailure"
	}
	return ""
}

// lastErrorMessage is LastError.Message: APIM's "Expression evaluation
// failed. …" for expressions, the policy's message otherwise.
func lastErrorMessage(e *RuntimeError) string {
	var re *reasonErr
	if errors.As(e.Err, &re) {
		return re.msg
	}
	if d, found := strings.CutPrefix(e.Reason, ErrEval.Error()+": "); found {
		return "Expression evaluation failed. " + d
	}
	if errors.Is(e.Err, ErrMemory) {
		return MsgMemory
	}
	if errors.Is(e.Err, ErrBudget) {
		return "Expression evaluation failed. The expression exceeded its step or memory budget."
	}
	return e.Reason
}

// lastErrorScope infers the scope from the document name the appliance gives
// (global, products/…, apis/…, apis/…/operations/…).
func lastErrorScope(e *RuntimeError) string {
	switch f := e.File; {
	case strings.Contains(f, "/operations/"):
		return "operation"
	case strings.HasPrefix(f, "apis/"):
		return "api"
	case strings.HasPrefix(f, "products/"):
		return "product"
	case strings.HasPrefix(f, "global"):
		return "global"
	}
	return ""
}

func lastErrorPath(e *RuntimeError) string { return e.Path }

// dict registers the IReadOnlyDictionary<string, string[]> members of a
// header collection.
func dict(ti *typeInfo, hs func(c *Context, v Value) *Headers) {
	ti.m("ContainsKey", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		return BoolValue(hs(c, v).Has(a[0].s)), nil
	}, "key")
	ti.m("GetValueOrDefault", 1, 2, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		s, found := hs(c, v).Joined(a[0].s)
		if !found {
			if len(a) == 2 {
				return a[1], nil
			}
			return Value{}, nil
		}
		return str(s), nil
	}, "headerName", "defaultValue").check = keyIsString
	ti.m("TryGetValue", 2, 2, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		var out []string
		for _, f := range hs(c, v).List {
			if strings.EqualFold(f.Name, a[0].s) {
				out = append(out, f.Value)
			}
		}
		c.x.out = Value{}
		if out == nil {
			return BoolValue(false), nil
		}
		c.x.out = Value{k: kStrings, a: out}
		return BoolValue(true), nil
	}, "key", "value").out = true
	ti.index = func(c *Context, v, k Value) (Value, error) {
		h := hs(c, v)
		var out []string
		for _, f := range h.List {
			if strings.EqualFold(f.Name, k.s) {
				out = append(out, f.Value)
			}
		}
		if out == nil {
			return Value{}, evalErr("the header %q was not present", k.s)
		}
		return Value{k: kStrings, a: out}, nil
	}
	ti.indexT = tyStrings
	ti.p("Count", tyInt, func(c *Context, v Value) (Value, error) { return IntValue(int64(len(hs(c, v).List))), nil })
	ti.p("Keys", "List", func(c *Context, v Value) (Value, error) {
		var ks []string
		for _, f := range hs(c, v).List {
			ks = append(ks, f.Name)
		}
		return objValue(stringsList(ks)), nil
	})
	enumerators[ti.name] = func(c *Context, v Value) ([]Value, error) {
		h := hs(c, v)
		out := make([]Value, 0, len(h.List))
		for _, f := range h.List {
			out = append(out, objValue(&keyValue{k: str(f.Name), v: Value{k: kStrings, a: []string{f.Value}}}))
		}
		return out, nil
	}
}

func keyIsString(args []typ, _ string) string {
	if len(args) > 0 && args[0] != tyString && args[0] != tyAny {
		return "expected string, found " + string(args[0])
	}
	if len(args) == 2 && args[1] != tyString && args[1] != tyAny && args[1] != tyNull {
		return "expected string, found " + string(args[1])
	}
	return ""
}

func params(ti *typeInfo, multi bool, ps func(v Value) *Params) {
	ti.m("ContainsKey", 1, 1, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		_, found := ps(v).Get(a[0].s)
		return BoolValue(found), nil
	}, "key")
	ti.m("GetValueOrDefault", 1, 2, tyString, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		s, found := ps(v).Get(a[0].s)
		if !found {
			if len(a) == 2 {
				return a[1], nil
			}
			return Value{}, nil
		}
		return str(s), nil
	}, "name", "defaultValue").check = keyIsString
	ti.m("TryGetValue", 2, 2, tyBool, func(c *Context, v Value, a []Value, _ string) (Value, error) {
		s, found := ps(v).Get(a[0].s)
		c.x.out = Value{}
		if found {
			c.x.out = str(s)
			if multi {
				c.x.out = Value{k: kStrings, a: []string{s}}
			}
		}
		return BoolValue(found), nil
	}, "key", "value").out = true
	ti.index = func(c *Context, v, k Value) (Value, error) {
		s, found := ps(v).Get(k.s)
		if !found {
			return Value{}, evalErr("the key %q was not present", k.s)
		}
		if multi {
			return Value{k: kStrings, a: []string{s}}, nil
		}
		return str(s), nil
	}
	ti.indexT = tyString
	if multi {
		ti.indexT = tyStrings
	}
	ti.p("Count", tyInt, func(c *Context, v Value) (Value, error) { return IntValue(int64(len(ps(v).List))), nil })
	enumerators[ti.name] = func(c *Context, v Value) ([]Value, error) {
		out := make([]Value, 0, len(ps(v).List))
		for _, p := range ps(v).List {
			out = append(out, objValue(&keyValue{k: str(p.Name), v: str(p.Value)}))
		}
		return out, nil
	}
}

// responseValue is an IResponse held in a variable: what send-request stores
// under response-variable-name. It is immutable once stored.
type responseValue struct {
	StatusCode int
	Reason     string
	Headers    Headers
	Body       []byte
}

func (*responseValue) typeName() string { return "IResponse" }
func (*responseValue) String() string   { return "IResponse" }

// ResponseValue wraps a response (status, reason, headers, body) as the value
// send-request stores in its response variable; expressions read it with
// ((IResponse)context.Variables["name"]).StatusCode, .Headers, .Body.As<T>().
// The slices are kept, not copied: the caller must not change them later.
func ResponseValue(status int, reason string, headers []Header, body []byte) Value {
	return objValue(&responseValue{StatusCode: status, Reason: reason, Headers: Headers{List: headers}, Body: body})
}

// AsResponse returns the response a variable holds (send-request's, or
// return-response response-variable-name's input).
func AsResponse(v Value) (status int, reason string, headers []Header, body []byte, isResponse bool) {
	r, found := v.o.(*responseValue)
	if v.k != kObject || !found {
		return 0, "", nil, nil, false
	}
	return r.StatusCode, r.Reason, r.Headers.List, r.Body, true
}

type (
	respValHeaders responseValue
	respValBody    responseValue
)

func (*respValHeaders) typeName() string { return "IHeaders" }
func (*respValHeaders) String() string   { return "IHeaders" }
func (*respValBody) typeName() string    { return "IMessageBody" }
func (*respValBody) String() string      { return "IMessageBody" }
