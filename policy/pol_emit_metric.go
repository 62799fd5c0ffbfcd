package policy

import (
	"sort"
	"strconv"
	"strings"
	"sync"
)

// emit-metric adds value (default 1, expressions allowed) to a custom metric
// named name in namespace (default "API Management"), split by up to 5
// <dimension>s. APIM sends these to Azure Monitor; here they accumulate in the
// State (sum and count per metric and dimension values) and the appliance
// serves them on /metrics. A dimension without value takes it from the
// request when its name is one of APIM's predefined ones (API ID, Operation
// ID, Product ID, Subscription ID, User ID, Location, Gateway ID); a custom
// dimension needs a value.
func init() {
	register("emit-metric", inAll, []string{"name", "namespace", "value"}, compileEmitMetric)
}

const maxMetricDimensions = 5

// maxMetricSeries bounds the distinct (metric, dimension values) series kept;
// values past it are counted in one overflow series per metric.
const maxMetricSeries = 10_000

type emitMetric struct {
	name, namespace string
	value           prop
	dims            []metricDim
}

type metricDim struct {
	name  string
	value prop
	from  func(c *Context) string // a predefined dimension without value
}

var predefinedDims = map[string]func(c *Context) string{
	"api id":          func(c *Context) string { return c.ID.APIName },
	"operation id":    func(c *Context) string { return c.ID.OperationName },
	"product id":      func(c *Context) string { return c.ID.ProductName },
	"subscription id": func(c *Context) string { return c.ID.SubscriptionID },
	"user id":         func(c *Context) string { return "" }, // no users on a self-hosted gateway
	"location":        func(c *Context) string { return "" },
	"gateway id":      func(c *Context) string { return "" },
}

func compileEmitMetric(b *builder, n *Node) {
	b.noText(n)
	m := b.meta(n)
	s := &emitMetric{name: b.attrString(n, "name", true, ""), namespace: b.attrString(n, "namespace", false, "API Management"), value: b.attrProp(n, "value", false)}
	b.onlyChildren(n, "dimension")
	for _, d := range n.Children {
		if d.Name != "dimension" {
			continue
		}
		b.checkAttrs(d, "name", "value")
		b.noChildren(d)
		md := metricDim{name: b.attrString(d, "name", true, ""), value: b.attrProp(d, "value", false)}
		if !md.value.set {
			md.from = predefinedDims[strings.ToLower(md.name)]
			if md.from == nil && md.name != "" {
				b.errorf(d, ErrInvalid, "custom dimension %q needs a value (only APIM's predefined dimensions take theirs from the request)", md.name)
			}
		}
		s.dims = append(s.dims, md)
	}
	if len(s.dims) > maxMetricDimensions {
		b.errorf(n, ErrInvalid, "at most %d dimensions", maxMetricDimensions)
	}
	b.emit(instr{op: opStep, step: s, meta: m})
}

func (s *emitMetric) run(c *Context) (flow, error) {
	v := 1.0
	if s.value.set {
		str, err := s.value.str(c)
		if err != nil {
			return flowNext, err
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(str), 64)
		if err != nil {
			return flowNext, evalErr("emit-metric: value %q is not a number", str)
		}
		v = f
	}
	dims := make([]Header, len(s.dims))
	for i, d := range s.dims {
		val := ""
		if d.from != nil {
			val = d.from(c)
		} else {
			x, err := d.value.str(c)
			if err != nil {
				return flowNext, err
			}
			val = x
		}
		dims[i] = Header{Name: d.name, Value: val}
	}
	c.pipe.state.metrics.add(s.namespace, s.name, dims, v)
	return flowNext, nil
}

// EmittedMetric is one series of emit-metric values.
type EmittedMetric struct {
	Namespace, Name string
	Dimensions      []Header // in the document's order
	Sum             float64
	Count           int64
}

type metricStore struct {
	mu     sync.Mutex
	series map[string]*EmittedMetric
}

func (ms *metricStore) add(ns, name string, dims []Header, v float64) {
	var kb strings.Builder
	kb.WriteString(ns + "\x00" + name)
	for _, d := range dims {
		kb.WriteString("\x00" + d.Name + "\x01" + d.Value)
	}
	key := kb.String()
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.series == nil {
		ms.series = map[string]*EmittedMetric{}
	}
	e := ms.series[key]
	if e == nil {
		if len(ms.series) >= maxMetricSeries {
			key = ns + "\x00" + name + "\x00overflow"
			if e = ms.series[key]; e == nil {
				e = &EmittedMetric{Namespace: ns, Name: name, Dimensions: []Header{{Name: "overflow", Value: "true"}}}
				ms.series[key] = e
			}
		} else {
			for i := range dims {
				dims[i] = Header{Name: strings.Clone(dims[i].Name), Value: strings.Clone(dims[i].Value)}
			}
			e = &EmittedMetric{Namespace: strings.Clone(ns), Name: strings.Clone(name), Dimensions: dims}
			ms.series[key] = e
		}
	}
	e.Sum += v
	e.Count++
}

// EmittedMetrics returns every emit-metric series, sorted by namespace, name
// and dimension values.
func (s *State) EmittedMetrics() []EmittedMetric {
	ms := &s.metrics
	ms.mu.Lock()
	out := make([]EmittedMetric, 0, len(ms.series))
	keys := make([]string, 0, len(ms.series))
	for k := range ms.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := *ms.series[k]
		e.Dimensions = append([]Header(nil), e.Dimensions...)
		out = append(out, e)
	}
	ms.mu.Unlock()
	return out
}
