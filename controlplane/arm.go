package controlplane

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// resourceOps is a kind of resource with its type erased, for the router.
type resourceOps interface {
	getR(s *Store, key string) (any, string, error)
	putR(s *Store, key string, body []byte, patch bool, ifMatch string) (any, string, bool, error)
	delR(s *Store, key, ifMatch string, q url.Values) (bool, error)
	listR(s *Store, prefix string) []listItem
	typ() string
}

type listItem struct {
	key   string
	props any
}

func (k *kind[T]) getR(s *Store, key string) (any, string, error) {
	e, err := k.get(s, key)
	if err != nil {
		return nil, "", err
	}
	return k.render(key, e.Props), e.ETag, nil
}

func (k *kind[T]) putR(s *Store, key string, body []byte, patch bool, ifMatch string) (any, string, bool, error) {
	e, created, err := k.put(s, key, body, patch, ifMatch)
	if err != nil {
		return nil, "", false, err
	}
	return k.render(key, e.Props), e.ETag, created, nil
}

func (k *kind[T]) delR(s *Store, key, ifMatch string, q url.Values) (bool, error) {
	return k.delete(s, key, ifMatch, q)
}

func (k *kind[T]) listR(s *Store, prefix string) []listItem {
	tb := k.table(s.snapshotModel())
	var out []listItem
	for _, key := range tb.keysWithPrefix(prefix) {
		out = append(out, listItem{key: key, props: k.render(key, tb[key].Props)})
	}
	return out
}

func (k *kind[T]) typ() string { return k.armType }

// HandlerOptions configure the HTTP handler.
type HandlerOptions struct {
	// AdminToken is the bearer token of the management API (required).
	AdminToken string
	// MaxBodyBytes bounds management request bodies (4 MiB).
	MaxBodyBytes int64
	// MaxTelemetryBytes bounds a telemetry batch, after gzip decoding (64 MiB).
	MaxTelemetryBytes int64
	// MaxWait bounds a config long-poll (5 minutes).
	MaxWait time.Duration
	// Logger gets one line per request (method, path, status, duration,
	// gateway): never a body, a header value or a query string.
	Logger *slog.Logger
}

// Handler serves the management API (ARM-shaped, admin bearer token) and the
// gateway-facing endpoints (/gateway/v1/…, GatewayKey token) of one Store.
// It is safe for concurrent use.
type Handler struct {
	s         *Store
	opts      HandlerOptions
	adminHash [32]byte
}

// NewHandler returns the HTTP handler for s.
func NewHandler(s *Store, opts HandlerOptions) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	if opts.MaxTelemetryBytes <= 0 {
		opts.MaxTelemetryBytes = 64 << 20
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{s: s, opts: opts, adminHash: sha256.Sum256([]byte(opts.AdminToken))}
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	gw     string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

var armPrefix = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ApiManagement/service/[^/]+`)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			h.opts.Logger.Error("controlplane: panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
			if sw.status == 0 {
				writeError(sw, &APIError{Code: "InternalError", Message: "internal error"})
			}
		}
		h.opts.Logger.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"ms", time.Since(start).Milliseconds(), "gateway", sw.gw)
	}()
	if strings.HasPrefix(r.URL.Path, "/gateway/") {
		h.serveGateway(sw, r)
		return
	}
	if !h.adminOK(r) {
		sw.Header().Set("WWW-Authenticate", "Bearer")
		writeError(sw, &APIError{Kind: ErrUnauthorized, Code: "Unauthorized", Message: "Authorization: Bearer <admin token> is missing or wrong."})
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		h.s.catchUp()
	}
	h.serveManagement(sw, r)
}

func (h *Handler) adminOK(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], h.adminHash[:]) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		ae = &APIError{Code: "InternalError", Message: "internal error"}
	}
	writeJSON(w, ae.Status(), struct {
		Error *APIError `json:"error"`
	}{ae})
}

// readBody reads a bounded request body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &APIError{Kind: ErrTooLarge, Code: "RequestEntityTooLarge", Message: "The request body is larger than the limit."}
	}
	if err != nil {
		return nil, validation("The request body could not be read: " + err.Error())
	}
	return b, nil
}

// armResource is a resource in ARM's shape.
type armResource struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Name       string `json:"name"`
	Properties any    `json:"properties"`
}

type collection struct {
	Value    any    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

type route struct {
	ops  resourceOps
	key  string // store key
	path string // resource path relative to the service ("/apis/a")
	name string
}

func (h *Handler) serveManagement(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	prefix := ""
	if m := armPrefix.FindString(path); m != "" {
		prefix = m
		path = path[len(m):]
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	for _, s := range segs {
		if s == "" {
			writeError(w, notFound("No resource at %q.", r.URL.Path))
			return
		}
	}
	ifMatch := r.Header.Get("If-Match")

	// Single resources and their collections.
	if rt, coll, ok := h.resolve(segs); ok {
		switch {
		case coll != nil && r.Method == http.MethodGet:
			h.list(w, prefix, coll)
		case coll != nil:
			writeMethodNotAllowed(w, r)
		case r.Method == http.MethodGet:
			props, etag, err := rt.ops.getR(h.s, rt.key)
			if err != nil {
				writeError(w, err)
				return
			}
			h.writeResource(w, http.StatusOK, prefix, rt, props, etag)
		case r.Method == http.MethodPut || r.Method == http.MethodPatch:
			body, err := readBody(w, r, h.opts.MaxBodyBytes)
			if err != nil {
				writeError(w, err)
				return
			}
			props, etag, created, err := rt.ops.putR(h.s, rt.key, body, r.Method == http.MethodPatch, ifMatch)
			if err != nil {
				writeError(w, err)
				return
			}
			status := http.StatusOK
			if created {
				status = http.StatusCreated
			}
			h.writeResource(w, status, prefix, rt, props, etag)
		case r.Method == http.MethodDelete:
			existed, err := rt.ops.delR(h.s, rt.key, ifMatch, r.URL.Query())
			if err != nil {
				writeError(w, err)
				return
			}
			if rt.ops == gatewayKind && existed {
				h.s.forgetStatus(rt.key)
			}
			if existed {
				w.WriteHeader(http.StatusOK)
			} else {
				w.WriteHeader(http.StatusNoContent)
			}
		default:
			writeMethodNotAllowed(w, r)
		}
		return
	}
	h.serveSpecial(w, r, prefix, segs)
}

func writeMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": &APIError{Code: "MethodNotAllowed", Message: r.Method + " is not supported on " + r.URL.Path}})
}

// collRoute is a collection: the kind, the key prefix, and how item keys map
// to resource paths.
type collRoute struct {
	ops     resourceOps
	prefix  string
	path    func(key string) string
	asAPIs  bool // product/gateway API links are listed as the APIs themselves
	armType string
}

func (h *Handler) resolve(segs []string) (route, *collRoute, bool) {
	n := len(segs)
	at := func(i int) string {
		if i < n {
			return segs[i]
		}
		return ""
	}
	simple := map[string]resourceOps{"apis": apiKind, "products": productKind, "subscriptions": subscriptionKind,
		"namedValues": namedValueKind, "backends": backendKind, "policyFragments": fragmentKind, "gateways": gatewayKind,
		"certificates": certificateKind, "caches": cacheKind, "schemas": globalSchemaKind}
	if n == 0 {
		return route{}, nil, false
	}
	top := segs[0]
	if ops, ok := simple[top]; ok {
		if n == 1 {
			return route{}, &collRoute{ops: ops, path: func(k string) string { return "/" + top + "/" + k }}, true
		}
		if n == 2 {
			return route{ops: ops, key: segs[1], path: "/" + top + "/" + segs[1], name: segs[1]}, nil, true
		}
	}
	switch {
	case top == "policies" && n == 1:
		return route{}, &collRoute{ops: policyKind, prefix: policyGlobal, path: func(string) string { return "/policies/policy" }}, true
	case top == "policies" && n == 2 && segs[1] == "policy":
		return route{ops: policyKind, key: policyGlobal, path: "/policies/policy", name: "policy"}, nil, true
	case top == "apis" && at(2) == "operations" && n == 3:
		a := segs[1]
		return route{}, &collRoute{ops: operationKind, prefix: a + "/", path: func(k string) string { return "/apis/" + a + "/operations/" + lastSegment(k) }}, true
	case top == "apis" && at(2) == "operations" && n == 4:
		return route{ops: operationKind, key: join(segs[1], segs[3]), path: "/apis/" + segs[1] + "/operations/" + segs[3], name: segs[3]}, nil, true
	case top == "apis" && at(2) == "schemas" && n == 3:
		a := segs[1]
		return route{}, &collRoute{ops: apiSchemaKind, prefix: a + "/", path: func(k string) string { return "/apis/" + a + "/schemas/" + lastSegment(k) }}, true
	case top == "apis" && at(2) == "schemas" && n == 4:
		return route{ops: apiSchemaKind, key: join(segs[1], segs[3]), path: "/apis/" + segs[1] + "/schemas/" + segs[3], name: segs[3]}, nil, true
	case top == "apis" && at(2) == "policies" && n == 3:
		a := segs[1]
		return route{}, &collRoute{ops: policyKind, prefix: policyKeyAPI(a), path: func(string) string { return "/apis/" + a + "/policies/policy" }}, true
	case top == "apis" && at(2) == "policies" && n == 4 && segs[3] == "policy":
		return route{ops: policyKind, key: policyKeyAPI(segs[1]), path: "/apis/" + segs[1] + "/policies/policy", name: "policy"}, nil, true
	case top == "apis" && at(2) == "operations" && at(4) == "policies" && n == 5:
		a, o := segs[1], segs[3]
		return route{}, &collRoute{ops: policyKind, prefix: policyKeyOp(a, o), path: func(string) string { return "/apis/" + a + "/operations/" + o + "/policies/policy" }}, true
	case top == "apis" && at(2) == "operations" && at(4) == "policies" && n == 6 && segs[5] == "policy":
		return route{ops: policyKind, key: policyKeyOp(segs[1], segs[3]), path: "/apis/" + segs[1] + "/operations/" + segs[3] + "/policies/policy", name: "policy"}, nil, true
	case top == "products" && at(2) == "policies" && n == 3:
		p := segs[1]
		return route{}, &collRoute{ops: policyKind, prefix: policyKeyProduct(p), path: func(string) string { return "/products/" + p + "/policies/policy" }}, true
	case top == "products" && at(2) == "policies" && n == 4 && segs[3] == "policy":
		return route{ops: policyKind, key: policyKeyProduct(segs[1]), path: "/products/" + segs[1] + "/policies/policy", name: "policy"}, nil, true
	case top == "products" && at(2) == "apis" && n == 3:
		p := segs[1]
		return route{}, &collRoute{ops: productAPIKind, prefix: p + "/", asAPIs: true, armType: productAPIKind.armType,
			path: func(k string) string { return "/products/" + p + "/apis/" + lastSegment(k) }}, true
	case top == "products" && at(2) == "apis" && n == 4:
		return route{ops: productAPIKind, key: join(segs[1], segs[3]), path: "/products/" + segs[1] + "/apis/" + segs[3], name: segs[3]}, nil, true
	case top == "gateways" && at(2) == "apis" && n == 3:
		g := segs[1]
		return route{}, &collRoute{ops: gatewayAPIKind, prefix: g + "/", asAPIs: true, armType: gatewayAPIKind.armType,
			path: func(k string) string { return "/gateways/" + g + "/apis/" + lastSegment(k) }}, true
	case top == "gateways" && at(2) == "certificateAuthorities" && n == 3:
		g := segs[1]
		return route{}, &collRoute{ops: gatewayCAKind, prefix: g + "/", armType: gatewayCAKind.armType,
			path: func(k string) string { return "/gateways/" + g + "/certificateAuthorities/" + lastSegment(k) }}, true
	case top == "gateways" && at(2) == "certificateAuthorities" && n == 4:
		return route{ops: gatewayCAKind, key: join(segs[1], segs[3]), path: "/gateways/" + segs[1] + "/certificateAuthorities/" + segs[3], name: segs[3]}, nil, true
	case top == "gateways" && at(2) == "apis" && n == 4:
		return route{ops: gatewayAPIKind, key: join(segs[1], segs[3]), path: "/gateways/" + segs[1] + "/apis/" + segs[3], name: segs[3]}, nil, true
	}
	return route{}, nil, false
}

// linkAPIProps shows a product–API or gateway–API link as the API itself, as ARM does.
func (h *Handler) linkAPIProps(key string) any {
	a := lastSegment(key)
	if e, ok := h.s.snapshotModel().apis[a]; ok {
		return apiKind.render(a, e.Props)
	}
	return struct{}{}
}

func (h *Handler) list(w http.ResponseWriter, prefix string, c *collRoute) {
	if err := h.collectionParent(c); err != nil {
		writeError(w, err)
		return
	}
	items := []armResource{}
	for _, it := range c.ops.listR(h.s, c.prefix) {
		if c.ops == policyKind && it.key != c.prefix {
			continue // "api/a" must not list "api/ab"
		}
		props := it.props
		if c.asAPIs {
			props = h.linkAPIProps(it.key)
		}
		if c.ops == gatewayKind {
			props = h.gatewayView(it.key, props)
		}
		items = append(items, armResource{ID: prefix + c.path(it.key), Type: c.ops.typ(), Name: lastSegment(it.key), Properties: props})
	}
	writeJSON(w, http.StatusOK, collection{Value: items})
}

// collectionParent checks that the parent of a nested collection exists.
func (h *Handler) collectionParent(c *collRoute) error {
	m := h.s.snapshotModel()
	switch {
	case c.ops == operationKind, c.ops == apiSchemaKind:
		return apiParent(m, c.prefix)
	case c.ops == productAPIKind:
		if _, ok := m.products[strings.TrimSuffix(c.prefix, "/")]; !ok {
			return notFound("Product %q was not found.", strings.TrimSuffix(c.prefix, "/"))
		}
	case c.ops == gatewayAPIKind:
		if _, ok := m.gateways[strings.TrimSuffix(c.prefix, "/")]; !ok {
			return notFound("Gateway %q was not found.", strings.TrimSuffix(c.prefix, "/"))
		}
	case c.ops == policyKind && c.prefix != policyGlobal:
		return policyKind.parent(m, c.prefix)
	}
	return nil
}

type gatewayView struct {
	*Gateway
	Status GatewayStatus `json:"status"`
}

func (h *Handler) gatewayView(key string, props any) any {
	g, _ := props.(*Gateway)
	return gatewayView{Gateway: g, Status: h.s.Status(key)}
}

func (h *Handler) writeResource(w http.ResponseWriter, status int, prefix string, rt route, props any, etag string) {
	if rt.ops == productAPIKind || rt.ops == gatewayAPIKind {
		props = h.linkAPIProps(rt.key)
	}
	if rt.ops == gatewayKind {
		props = h.gatewayView(rt.key, props)
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	writeJSON(w, status, armResource{ID: prefix + rt.path, Type: rt.ops.typ(), Name: rt.name, Properties: props})
}

// serveSpecial handles POST actions and reports.
func (h *Handler) serveSpecial(w http.ResponseWriter, r *http.Request, prefix string, segs []string) {
	n := len(segs)
	post := func(fn func() (int, any, error)) {
		if r.Method != http.MethodPost {
			writeMethodNotAllowed(w, r)
			return
		}
		status, v, err := fn()
		if err != nil {
			writeError(w, err)
			return
		}
		if v == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, v)
	}
	switch {
	case n == 3 && segs[0] == "subscriptions" && segs[2] == "listSecrets":
		post(func() (int, any, error) {
			k, err := h.s.ListSecrets(segs[1])
			return 200, k, err
		})
	case n == 3 && segs[0] == "subscriptions" && (segs[2] == "regeneratePrimaryKey" || segs[2] == "regenerateSecondaryKey"):
		post(func() (int, any, error) {
			return 204, nil, h.s.RegenerateSubscriptionKey(segs[1], segs[2] == "regenerateSecondaryKey")
		})
	case n == 3 && segs[0] == "namedValues" && segs[2] == "listValue":
		post(func() (int, any, error) {
			v, err := h.s.NamedValueSecret(segs[1])
			return 200, map[string]string{"value": v}, err
		})
	case n == 3 && segs[0] == "gateways" && segs[2] == "listKeys":
		post(func() (int, any, error) {
			k, err := h.s.ListGatewayKeys(segs[1])
			return 200, k, err
		})
	case n == 3 && segs[0] == "gateways" && segs[2] == "regenerateKey":
		post(func() (int, any, error) {
			var req struct {
				KeyType string `json:"keyType"`
			}
			if err := h.decodeAction(w, r, &req); err != nil {
				return 0, nil, err
			}
			return 204, nil, h.s.RegenerateGatewayKey(segs[1], req.KeyType)
		})
	case n == 3 && segs[0] == "gateways" && segs[2] == "generateToken":
		post(func() (int, any, error) {
			var req struct {
				KeyType string    `json:"keyType"`
				Expiry  time.Time `json:"expiry"`
			}
			if err := h.decodeAction(w, r, &req); err != nil {
				return 0, nil, err
			}
			tok, err := h.s.GenerateToken(segs[1], req.KeyType, req.Expiry)
			return 200, map[string]string{"value": tok}, err
		})
	case n == 3 && segs[0] == "gateways" && segs[2] == "snapshot" && r.Method == http.MethodGet:
		body, version, etag, err := h.s.Snapshot(segs[1])
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("X-Apimgw-Snapshot-Version", uintString(version))
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	case n == 2 && segs[0] == "reports":
		if r.Method != http.MethodGet {
			writeMethodNotAllowed(w, r)
			return
		}
		h.serveReport(w, r, segs[1])
	default:
		writeError(w, notFound("No resource at %q.", r.URL.Path))
	}
}

func (h *Handler) decodeAction(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, h.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalidField(te.Field, "must be a JSON %s", te.Type.String())
		}
		var pe *time.ParseError
		if errors.As(err, &pe) {
			return invalidField("expiry", "%q is not an RFC 3339 time", pe.Value)
		}
		return validation("The request body is not valid JSON: " + err.Error())
	}
	return nil
}

var reportKinds = map[string]string{"byApi": "api", "byOperation": "operation", "bySubscription": "subscription",
	"byGateway": "gateway", "byTime": "time"}

func (h *Handler) serveReport(w http.ResponseWriter, r *http.Request, which string) {
	if which == "byRequest" {
		h.serveRequestReport(w, r)
		return
	}
	by, ok := reportKinds[which]
	if !ok {
		writeError(w, notFound("Report %q does not exist (byApi, byOperation, bySubscription, byGateway, byTime, byRequest).", which))
		return
	}
	q := r.URL.Query()
	from, to, err := parseFilter(q.Get("$filter"))
	if err != nil {
		writeError(w, err)
		return
	}
	rq := ReportQuery{By: by, From: from, To: to}
	if by == "time" {
		iv := q.Get("interval")
		if iv == "" {
			writeError(w, invalidField("interval", "is required for byTime (an ISO 8601 duration such as PT5M)"))
			return
		}
		d, err := parseISODuration(iv)
		if err != nil {
			writeError(w, invalidField("interval", "%v", err))
			return
		}
		rq.Interval = d
	}
	rows, err := h.s.Report(rq)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, collection{Value: rows})
}
