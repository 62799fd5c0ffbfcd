package controlplane

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/apimgw/apimgw/wire"
)

// modelIndex is what every gateway's snapshot build needs from a model,
// computed once per write rather than once per gateway.
type modelIndex struct {
	m           *model
	apisOf      map[string][]string // gateway → assigned API ids, sorted
	opsOf       map[string][]string // API → operation ids, sorted
	productsOf  map[string][]string // API → product ids, sorted
	productAPIs map[string][]string // product → API ids, sorted
	subs        []indexedSub        // sorted by id
	refs        map[string]policyRefs
	nvByName    map[string]string // lower-case display name → id
}

type indexedSub struct {
	id, kind, target string
	sub              *Subscription
}

func newModelIndex(m *model) *modelIndex {
	x := &modelIndex{m: m, apisOf: map[string][]string{}, opsOf: map[string][]string{}, productsOf: map[string][]string{},
		productAPIs: map[string][]string{}, refs: map[string]policyRefs{}, nvByName: map[string]string{}}
	for k := range m.gatewayAPIs {
		g, a, _ := strings.Cut(k, "/")
		x.apisOf[g] = append(x.apisOf[g], a)
	}
	for k := range m.ops {
		a, o, _ := strings.Cut(k, "/")
		x.opsOf[a] = append(x.opsOf[a], o)
	}
	for k := range m.productAPIs {
		p, a, _ := strings.Cut(k, "/")
		x.productsOf[a] = append(x.productsOf[a], p)
		x.productAPIs[p] = append(x.productAPIs[p], a)
	}
	for _, mm := range []map[string][]string{x.apisOf, x.opsOf, x.productsOf, x.productAPIs} {
		for _, v := range mm {
			sort.Strings(v)
		}
	}
	for _, sid := range m.subs.sortedKeys() {
		sub := m.subs[sid].Props
		kind, id, err := wire.ParseScope(sub.Scope)
		if err == nil {
			x.subs = append(x.subs, indexedSub{id: sid, kind: kind, target: id, sub: sub})
		}
	}
	for id, e := range m.namedValues {
		x.nvByName[strings.ToLower(e.Props.DisplayName)] = id
	}
	return x
}

func (x *modelIndex) scan(text string) policyRefs {
	r, ok := x.refs[text]
	if !ok {
		r = scanRefs(text)
		x.refs[text] = r
	}
	return r
}

func (x *modelIndex) namedValue(name string) (string, bool) {
	if id, ok := x.nvByName[strings.ToLower(name)]; ok {
		return id, true
	}
	if _, ok := x.m.namedValues[name]; ok {
		return name, true
	}
	return "", false
}

// buildSnapshot assembles what gateway gw serves: its assigned APIs and
// everything they reference (see docs/protocol.md). Version, GeneratedAt and
// Checksum are left zero.
func buildSnapshot(x *modelIndex, gw string) *wire.Snapshot {
	m := x.m
	snap := &wire.Snapshot{ProtocolVersion: wire.ProtocolVersion, Gateway: gw,
		APIs: []wire.API{}, Products: []wire.Product{}, Subscriptions: []wire.Subscription{},
		PolicyFragments: []wire.PolicyFragment{}, NamedValues: []wire.NamedValue{}, Backends: []wire.Backend{}}
	var texts []string
	if p, ok := m.policies[policyGlobal]; ok {
		snap.Policy = p.Props.Value
		texts = append(texts, p.Props.Value)
	}
	apiSet := map[string]bool{}
	for _, id := range x.apisOf[gw] {
		e, ok := m.apis[id]
		if !ok {
			continue
		}
		apiSet[id] = true
		a := e.Props
		wa := wire.API{ID: id, DisplayName: a.DisplayName, Path: a.Path, ServiceURL: a.ServiceURL,
			Protocols: append([]string{}, a.Protocols...), SubscriptionRequired: a.SubscriptionRequired,
			SubscriptionKeyParameterNames: wire.KeyParameterNames{Header: wire.DefaultKeyHeader, Query: wire.DefaultKeyQuery},
			Operations:                    []wire.Operation{}, Schemas: wireSchemas(m, id)}
		if kn := a.SubscriptionKeyParameterNames; kn != nil {
			if kn.Header != "" {
				wa.SubscriptionKeyParameterNames.Header = kn.Header
			}
			if kn.Query != "" {
				wa.SubscriptionKeyParameterNames.Query = kn.Query
			}
		}
		if p, ok := m.policies[policyKeyAPI(id)]; ok {
			wa.Policy = p.Props.Value
			texts = append(texts, wa.Policy)
		}
		for _, oid := range x.opsOf[id] {
			o := m.ops[join(id, oid)].Props
			wo := wire.Operation{ID: oid, DisplayName: o.DisplayName, Method: o.Method, URLTemplate: o.URLTemplate, Responses: wireResponses(o.Responses), Request: wireRequest(o.Request)}
			for _, tp := range o.TemplateParameters {
				wo.TemplateParameters = append(wo.TemplateParameters, wire.TemplateParameter{Name: tp.Name, Type: tp.Type,
					Required: tp.Required, Description: tp.Description, Values: tp.Values})
			}
			if p, ok := m.policies[policyKeyOp(id, oid)]; ok {
				wo.Policy = p.Props.Value
				texts = append(texts, wo.Policy)
			}
			wa.Operations = append(wa.Operations, wo)
		}
		snap.APIs = append(snap.APIs, wa)
	}
	prodSet := map[string]bool{}
	for id := range apiSet {
		for _, p := range x.productsOf[id] {
			prodSet[p] = true
		}
	}
	for _, pid := range sortedSet(prodSet) {
		e, ok := m.products[pid]
		if !ok {
			continue
		}
		var apis []string
		for _, a := range x.productAPIs[pid] {
			if apiSet[a] {
				apis = append(apis, a)
			}
		}
		wp := wire.Product{ID: pid, DisplayName: e.Props.DisplayName, SubscriptionRequired: e.Props.SubscriptionRequired,
			State: e.Props.State, APIs: apis}
		if p, ok := m.policies[policyKeyProduct(pid)]; ok {
			wp.Policy = p.Props.Value
			texts = append(texts, wp.Policy)
		}
		snap.Products = append(snap.Products, wp)
	}
	for _, is := range x.subs {
		if (is.kind == wire.ScopeAPI && !apiSet[is.target]) || (is.kind == wire.ScopeProduct && !prodSet[is.target]) {
			continue
		}
		sub := is.sub
		snap.Subscriptions = append(snap.Subscriptions, wire.Subscription{ID: is.id, DisplayName: sub.DisplayName,
			Scope: sub.Scope, State: sub.State,
			PrimaryKeySHA256: wire.KeyDigest(sub.PrimaryKey), SecondaryKeySHA256: wire.KeyDigest(sub.SecondaryKey)})
	}
	// Fragments, transitively; then named values and backends of everything.
	fragSet := map[string]bool{}
	queue := append([]string{}, texts...)
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		for _, f := range x.scan(t).fragments {
			if fe, ok := m.fragments[f]; ok && !fragSet[f] {
				fragSet[f] = true
				queue = append(queue, fe.Props.Value)
				texts = append(texts, fe.Props.Value)
			}
		}
	}
	for _, f := range sortedSet(fragSet) {
		fe := m.fragments[f].Props
		snap.PolicyFragments = append(snap.PolicyFragments, wire.PolicyFragment{ID: f, Description: fe.Description, Value: fe.Value})
	}
	nvSet, beSet, scSet := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, t := range texts {
		r := x.scan(t)
		for _, s := range r.schemas {
			for id := range m.schemas {
				if strings.EqualFold(id, s) {
					scSet[id] = true
				}
			}
		}
		for _, n := range r.namedValues {
			if id, ok := x.namedValue(n); ok {
				nvSet[id] = true
			}
		}
		for _, b := range r.backends {
			if _, ok := m.backends[b]; ok {
				beSet[b] = true
			}
		}
	}
	for _, id := range sortedSet(nvSet) {
		nv := m.namedValues[id].Props
		snap.NamedValues = append(snap.NamedValues, wire.NamedValue{ID: id, DisplayName: nv.DisplayName, Value: nv.Value, Secret: nv.Secret})
	}
	snapshotBackends(m, gw, beSet, snap) // backends.go
	snap.Cache = snapshotCache(m, gw)    // caches.go
	for _, id := range sortedSet(scSet) {
		snap.Schemas = append(snap.Schemas, wireGlobalSchema(id, m.schemas[id].Props))
	}
	return snap
}

func sortedSet(s map[string]bool) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// gwVersion is what is persisted per gateway: its snapshot version, the
// hash of the content that version had, and when that content was first
// built. A restart that rebuilds the same content reuses all three, so the
// snapshot a gateway receives is byte for byte the one it already has (same
// checksum, same ETag) and nothing is re-applied. Records written before
// GeneratedAt was kept have it zero: the first rebuild fills it in once.
type gwVersion struct {
	Version     uint64    `json:"version"`
	Hash        string    `json:"hash"`
	GeneratedAt time.Time `json:"generatedAt,omitempty"`
}

// published is one built snapshot, ready to serve. Immutable, except for
// the gzip form, made once on first use.
type published struct {
	snap    *wire.Snapshot
	body    []byte // JSON
	etag    string // quoted
	version uint64

	gzOnce sync.Once
	gz     []byte
}

// gzipped returns the gzip form of body, compressing it on first use (most
// versions of most gateways are superseded before anyone asks twice).
func (p *published) gzipped() []byte {
	p.gzOnce.Do(func() {
		var zb bytes.Buffer
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(&zb)
		zw.Write(p.body)
		zw.Close()
		gzipWriters.Put(zw)
		p.gz = zb.Bytes()
	})
	return p.gz
}

// gzipWriters reuses compressors (each holds about 1 MiB of state): after a
// change, every waiting gateway's answer is compressed at once.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

// gwSlot is a gateway's current published snapshot and the channel closed
// when a newer one replaces it.
type gwSlot struct {
	hash    string
	cur     *published
	changed chan struct{}
}

// hub keeps every gateway's current snapshot and wakes long-polls.
type hub struct {
	mu    sync.Mutex
	slots map[string]*gwSlot
	known map[string]gwVersion // persisted versions (survive gateway rebuilds)
}

func newHub(versions map[string]gwVersion) *hub {
	return &hub{slots: map[string]*gwSlot{}, known: versions}
}

// build is the result of prepare for one gateway.
type build struct {
	gw      string
	version gwVersion
	pub     *published // nil: deleted gateway
}

// prepare builds every gateway's snapshot from m and returns those whose
// content changed (with the next version) and the gateways that vanished. It
// fails when a snapshot would not pass wire validation, naming the gateway.
//
// Gateways serving the same set of APIs get the same content, so content is
// built and hashed once per distinct set; only gateways whose content
// changed are encoded.
func (h *hub) prepare(m *model, now time.Time) ([]build, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	x := newModelIndex(m)
	type content struct {
		snap *wire.Snapshot
		hash string
		err  error
	}
	groups := map[string]*content{}
	var out []build
	for _, gw := range m.gateways.sortedKeys() {
		// Gateways share built content when everything gateway-specific in it is
		// equal: the APIs, the location's cache (caches.go) and the trusted
		// CAs (backends.go).
		key := strings.Join(x.apisOf[gw], "/") + "\x00" + cacheGroup(m, gw) + "\x00" + trustedCAGroup(m, gw)
		g := groups[key]
		if g == nil {
			snap := buildSnapshot(x, gw)
			snap.Gateway = ""
			b, err := json.Marshal(snap)
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(b)
			g = &content{snap: snap, hash: hex.EncodeToString(sum[:])}
			groups[key] = g
		}
		prev := h.known[gw]
		if slot, ok := h.slots[gw]; ok && slot.hash == g.hash && slot.cur.version == prev.Version {
			continue
		}
		// Same content as persisted (a restart, or another process on the
		// same database built it first) keeps the version and the generation
		// time: identity comes from the content, not from when this process
		// happened to build it. (known is what was published or read back,
		// so a slot's content differing from it means new content.)
		if prev.Hash != g.hash {
			prev.Version++
			prev.GeneratedAt = now.UTC()
		} else if prev.GeneratedAt.IsZero() {
			prev.GeneratedAt = now.UTC()
		}
		snap := *g.snap
		snap.Gateway = gw
		if g.err == nil {
			g.err = snap.Validate()
		}
		if g.err != nil {
			return nil, validation(fmt.Sprintf("the change would give gateway %q an invalid configuration: %v", gw, g.err))
		}
		snap.Version = prev.Version
		snap.GeneratedAt = prev.GeneratedAt
		body, err := encodeSealed(&snap)
		if err != nil {
			return nil, err
		}
		// The ETag names the version and the content (not the checksum, which
		// also covers generatedAt): equal content, equal ETag.
		out = append(out, build{gw: gw, version: gwVersion{Version: prev.Version, Hash: g.hash, GeneratedAt: prev.GeneratedAt}, pub: &published{
			snap: &snap, body: body, version: prev.Version,
			etag: `"` + strconv.FormatUint(prev.Version, 10) + "-" + g.hash[:16] + `"`,
		}})
	}
	for gw := range h.slots {
		if _, ok := m.gateways[gw]; !ok {
			out = append(out, build{gw: gw})
		}
	}
	return out, nil
}

// encodeSealed is wire's Seal + Encode with one JSON encoding instead of
// two: the checksum is computed over the encoding with "checksum":"" and then
// put in place of that empty string, which gives byte for byte what encoding
// the sealed snapshot would (ids cannot contain ':' or '"', so the first
// "checksum":"" is the field itself).
func encodeSealed(s *wire.Snapshot) ([]byte, error) {
	s.Checksum = ""
	if s.ProtocolVersion == 0 {
		s.ProtocolVersion = wire.ProtocolVersion
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	s.Checksum = "sha256:" + hex.EncodeToString(sum[:])
	return bytes.Replace(b, []byte(`"checksum":""`), []byte(`"checksum":"`+s.Checksum+`"`), 1), nil
}

// persist writes the versions of builds in tx, except those equal to the
// stored ones in stored (nil: write all).
func (h *hub) persist(tx backendTx, builds []build, stored map[string]gwVersion) error {
	for _, bd := range builds {
		if bd.pub == nil {
			// Keep the version record: a gateway re-created under the same id
			// must never see its version go back.
			continue
		}
		if old, ok := stored[bd.gw]; ok && old.Version == bd.version.Version && old.Hash == bd.version.Hash && old.GeneratedAt.Equal(bd.version.GeneratedAt) {
			continue
		}
		v, _ := json.Marshal(bd.version)
		if err := tx.put(bucketGWVersions, bd.gw, v); err != nil {
			return err
		}
	}
	return nil
}

// setKnown replaces the persisted versions prepare starts from with those
// just read from the backend (other processes may have bumped them).
func (h *hub) setKnown(v map[string]gwVersion) {
	h.mu.Lock()
	h.known = v
	h.mu.Unlock()
}

// publish makes builds current and wakes their long-polls.
func (h *hub) publish(builds []build) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, bd := range builds {
		slot := h.slots[bd.gw]
		if slot != nil {
			close(slot.changed)
		}
		if bd.pub == nil {
			delete(h.slots, bd.gw)
			continue
		}
		h.known[bd.gw] = bd.version
		h.slots[bd.gw] = &gwSlot{hash: bd.version.Hash, cur: bd.pub, changed: make(chan struct{})}
	}
}

// current returns gw's published snapshot and a channel closed when it is
// replaced (or the gateway deleted, or the store closed).
func (h *hub) current(gw string) (*published, <-chan struct{}, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	slot, ok := h.slots[gw]
	if !ok {
		return nil, nil, false
	}
	return slot.cur, slot.changed, true
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for gw, slot := range h.slots {
		close(slot.changed)
		delete(h.slots, gw)
	}
}
