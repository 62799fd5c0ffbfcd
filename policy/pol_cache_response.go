package policy

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// cache-lookup and cache-store: response caching on the built-in cache (the
// same ValueCache as cache-*-value, so the same byte budget). cache-lookup
// (inbound) skips a request with an Authorization header unless
// allow-private-response-caching="true" (APIM's attribute), builds the key — API, operation, method, path, the query
// (vary-by-query-parameter selects parameters; without any the whole query is
// part of the key, which never mixes responses APIM would keep apart), the
// vary-by-header values, and the subscription for vary-by-developer /
// vary-by-developer-groups — and on a hit answers with the stored response.
// cache-store (outbound) stores the response of a request that missed: 200
// only, unless cache-response="true"; duration in seconds (expressions
// allowed). Only GET and HEAD are cached. caching-type picks the cache as for
// cache-lookup-value (pol_cache_external.go); cache-store uses the one its
// cache-lookup used. downstream-caching-type private/public adds Cache-Control with the time
// left, must-revalidate adds must-revalidate.
func init() {
	register("cache-lookup", inInbound, []string{"vary-by-developer", "vary-by-developer-groups", "caching-type", "downstream-caching-type",
		"must-revalidate", "allow-private-response-caching"}, compileCacheLookupResponse)
	register("cache-store", inOutbound, []string{"duration", "cache-response", "cache-value"}, compileCacheStoreResponse)
}

type cacheLookupResponse struct {
	byDeveloper bool
	downstream  string
	revalidate  bool
	headers     []string
	query       []string
	ct          cachingKind
	// private is allow-private-response-caching: unless true, a request
	// with an Authorization header is neither looked up nor stored (APIM).
	private prop
}

// respCacheState is what cache-lookup leaves for cache-store.
type respCacheState struct {
	key        string
	downstream string
	revalidate bool
	// ext is the external cache the lookup used (nil: the built-in one,
	// unless skip); skip: caching-type external with none configured.
	ext  ExternalCache
	skip bool
}

func compileCacheLookupResponse(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	if _, ok := n.Attr("vary-by-developer"); !ok {
		b.errorf(n, ErrInvalid, `attribute "vary-by-developer" is required`)
	}
	if _, ok := n.Attr("vary-by-developer-groups"); !ok {
		b.errorf(n, ErrInvalid, `attribute "vary-by-developer-groups" is required`)
	}
	s := &cacheLookupResponse{byDeveloper: b.attrBool(n, "vary-by-developer", false) || b.attrBool(n, "vary-by-developer-groups", false),
		downstream: b.attrEnum(n, "downstream-caching-type", "none", "none", "private", "public"),
		revalidate: b.attrBool(n, "must-revalidate", true)}
	s.private = b.attrProp(n, "allow-private-response-caching", false) // expressions allowed (APIM)
	s.ct = cachingType(b, n)
	b.onlyChildren(n, "vary-by-header", "vary-by-query-parameter")
	for _, ch := range n.Children {
		b.checkAttrs(ch)
		b.noChildren(ch)
		for _, v := range strings.Split(b.subst(ch, ch.TextPos, ch.Text), ";") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			if ch.Name == "vary-by-header" {
				s.headers = append(s.headers, v)
			} else {
				s.query = append(s.query, v)
			}
		}
	}
	sort.Strings(s.query)
	b.emit(instr{op: opStep, step: s, meta: m, flow: true})
}

func (s *cacheLookupResponse) key(c *Context) string {
	var k strings.Builder
	k.WriteString("response\x00" + c.ID.APIName + "\x00" + c.ID.OperationName + "\x00" + c.Request.Method + "\x00" + c.Request.Path + "\x00")
	if len(s.query) == 0 {
		k.Write(AppendQuery(nil, &c.Request.Query))
	} else {
		for _, q := range s.query {
			v, _ := c.Request.Query.Get(q)
			k.WriteString(q + "=" + v + "&")
		}
	}
	for _, h := range s.headers {
		v, _ := c.Request.Headers.Joined(h)
		k.WriteString("\x00" + strings.ToLower(h) + ":" + v)
	}
	if s.byDeveloper {
		k.WriteString("\x00sub:" + c.ID.SubscriptionID)
	}
	return k.String()
}

func (s *cacheLookupResponse) run(c *Context) (flow, error) {
	st := c.pipe.state
	now := st.now()
	if c.calls.done && c.calls.phase == phaseCacheLookup {
		// The external lookup's answer (c.respCache was set before it).
		if b, ok := extLookupDone(c); ok {
			v, expires, err := decodeCached(c, b)
			if _, _, _, _, isResp := AsResponse(v); err == nil && isResp && now.Before(expires) {
				c.respCache = respCacheState{}
				return s.hit(c, v, expires, now)
			}
			st.external.undecode.Add(1)
		}
		return flowNext, nil
	}
	if c.Request.Method != "GET" && c.Request.Method != "HEAD" {
		return flowNext, nil
	}
	if _, auth := c.Request.Headers.Get("Authorization"); auth {
		if !s.private.set {
			return flowNext, nil
		}
		if ok, err := s.private.boolean(c); err != nil || !ok {
			return flowNext, err
		}
	}
	key := s.key(c)
	ec, internal := st.pick(s.ct)
	if !internal {
		c.respCache = respCacheState{key: key, downstream: s.downstream, revalidate: s.revalidate, ext: ec, skip: ec == nil}
		f, _ := extLookup(c, ec, key, "cache-lookup")
		return f, nil
	}
	v, expires, ok := st.cache.lookupEntry(key, now)
	if !ok {
		c.respCache = respCacheState{key: key, downstream: s.downstream, revalidate: s.revalidate}
		return flowNext, nil
	}
	return s.hit(c, v, expires, now)
}

// hit answers with the cached response v.
func (s *cacheLookupResponse) hit(c *Context, v Value, expires, now time.Time) (flow, error) {
	status, reason, headers, body, _ := AsResponse(v)
	c.Response.reset()
	c.Response.StatusCode, c.Response.Reason = status, reason
	for _, h := range headers {
		c.Response.Headers.Add(h.Name, h.Value)
	}
	c.Response.Body, c.Response.BodySet = body, true
	downstreamHeader(&c.Response.Headers, s.downstream, s.revalidate, expires.Sub(now))
	return flowRespond, nil
}

func downstreamHeader(h *Headers, typ string, revalidate bool, left time.Duration) {
	if typ == "none" || typ == "" {
		return
	}
	v := typ + ", max-age=" + strconv.Itoa(int(left.Seconds()))
	if revalidate {
		v += ", must-revalidate"
	}
	h.Set("Cache-Control", v)
}

type cacheStoreResponse struct {
	duration prop
	any      bool
}

func compileCacheStoreResponse(b *builder, n *Node) {
	b.noText(n)
	b.noChildren(n)
	m := b.meta(n)
	if _, ok := n.Attr("cache-value"); ok {
		a, _ := n.Attr("cache-value")
		b.errorAt(n, a.Pos, ErrUnsupported, `attribute "cache-value" is not supported`)
	}
	s := &cacheStoreResponse{duration: b.attrProp(n, "duration", true), any: b.attrBool(n, "cache-response", false)}
	b.readsBody(toResponse)
	b.emit(instr{op: opStep, step: s, meta: m})
}

// hopHeaders are not stored with a cached response.
var hopHeaders = []string{"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Set-Cookie", "Upgrade", "Trailer", "Proxy-Connection"}

func (s *cacheStoreResponse) run(c *Context) (flow, error) {
	rc := c.respCache
	if rc.key == "" || rc.skip || !(c.Response.StatusCode == 200 || s.any) {
		return flowNext, nil
	}
	d, err := s.duration.integer(c)
	if err != nil {
		return flowNext, err
	}
	if d <= 0 {
		return flowNext, nil
	}
	var hs []Header
	for _, h := range c.Response.Headers.List {
		skip := false
		for _, hop := range hopHeaders {
			if strings.EqualFold(h.Name, hop) {
				skip = true
			}
		}
		if !skip {
			hs = append(hs, Header{Name: strings.Clone(h.Name), Value: strings.Clone(h.Value)})
		}
	}
	body := append([]byte(nil), c.Response.Body...)
	st := c.pipe.state
	rv := ResponseValue(c.Response.StatusCode, strings.Clone(c.Response.Reason), hs, body)
	if rc.ext != nil {
		b, err := encodeCached(rv, st.now().Add(time.Duration(d)*time.Second))
		if err != nil {
			return flowNext, err
		}
		extStore(st, rc.ext, rc.key, b, time.Duration(d)*time.Second)
	} else {
		st.cache.store(rc.key, rv, time.Duration(d)*time.Second, st.now())
	}
	downstreamHeader(&c.Response.Headers, rc.downstream, rc.revalidate, time.Duration(d)*time.Second)
	return flowNext, nil
}
