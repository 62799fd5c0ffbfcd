package controlplane

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/apimgw/apimgw/wire"
)

// Telemetry records are kept in bucket "telemetry" (bbolt; PostgreSQL:
// table telemetry, the same parts as columns) under
// key = time (8 bytes, big-endian Unix nanoseconds) | gateway | 0 | stream | 0 | seq (8 bytes),
// so a time range is one cursor walk and a record sent twice lands on the
// same key (which is what makes ingest idempotent).
func appendTelemetryKey(k []byte, t time.Time, gw, stream string, seq uint64) []byte {
	k = binary.BigEndian.AppendUint64(k, uint64(t.UnixNano()))
	k = append(k, gw...)
	k = append(k, 0)
	k = append(k, stream...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// Stored values are wire records (wire.AppendRecord): the bytes a gateway
// uploads in a binary batch are stored as they are. The gateway is in the
// key. Databases written before this format (meta key telemetryFormat
// absent) are converted once at open (migrateTelemetry).

// telemetryFormatKey in the meta bucket holds the stored-value format.
const telemetryFormatKey = "telemetryFormat"

// telemetryFormatWire marks values stored as wire records.
const telemetryFormatWire = "wire-record-v1"

// keyGateway returns the gateway part of a telemetry key.
func keyGateway(k []byte) string {
	if len(k) < 8 {
		return ""
	}
	rest := k[8:]
	for i, c := range rest {
		if c == 0 {
			return string(rest[:i])
		}
	}
	return ""
}

// migrateTelemetry converts values stored in the format of builds before
// the wire codec (a version byte 1, then gateway, api, operation, product,
// subscription, method, path template, client IP, cache and error strings,
// then status, backend status, total µs, backend µs, bytes in and bytes out
// varints) to wire records, in the open transaction, and records the format.
func migrateTelemetry(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket([]byte(bucketMeta))
	if string(meta.Get([]byte(telemetryFormatKey))) == telemetryFormatWire {
		return 0, nil
	}
	bk := tx.Bucket([]byte(bucketTelemetry))
	type kv struct{ k, v []byte }
	var conv []kv
	err := bk.ForEach(func(k, v []byte) error {
		r, ok := decodeLegacyRecord(v)
		if !ok || len(k) < 8 {
			return fmt.Errorf("telemetry record %x: undecodable (neither format)", k)
		}
		r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
		conv = append(conv, kv{append([]byte(nil), k...), wire.AppendRecord(nil, &r)})
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, c := range conv {
		if err := bk.Put(c.k, c.v); err != nil {
			return 0, err
		}
	}
	return len(conv), meta.Put([]byte(telemetryFormatKey), []byte(telemetryFormatWire))
}

func decodeLegacyRecord(b []byte) (wire.TelemetryRecord, bool) {
	var r wire.TelemetryRecord
	if len(b) == 0 || b[0] != 1 {
		return r, false
	}
	b = b[1:]
	var strs [10]string
	for i := range strs {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return r, false
		}
		strs[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	var ints [6]int64
	for i := range ints {
		v, w := binary.Varint(b)
		if w <= 0 {
			return r, false
		}
		ints[i] = v
		b = b[w:]
	}
	r.Gateway, r.API, r.Operation, r.Product, r.Subscription = strs[0], strs[1], strs[2], strs[3], strs[4]
	r.Method, r.PathTemplate, r.ClientIP, r.Cache, r.Error = strs[5], strs[6], strs[7], strs[8], strs[9]
	r.Status, r.BackendStatus = int(ints[0]), int(ints[1])
	r.TotalMicros, r.BackendMicros, r.BytesIn, r.BytesOut = ints[2], ints[3], ints[4], ints[5]
	return r, len(b) == 0
}

// RawBatchOf turns a JSON batch (validated) into a binary one.
func RawBatchOf(b *wire.TelemetryBatch) *wire.RawBatch {
	raw := &wire.RawBatch{ProtocolVersion: b.ProtocolVersion, Gateway: b.Gateway, Stream: b.Stream,
		Sequence: b.Sequence, Records: make([]wire.RawRecord, len(b.Records))}
	for i := range b.Records {
		raw.Records[i] = wire.RawRecord{Seq: b.Records[i].Seq, Data: wire.AppendRecord(nil, &b.Records[i])}
	}
	return raw
}

// Ingest stores batch b from gateway gw (already authenticated and
// validated: wire.ParseRawBatch, or RawBatchOf a validated JSON batch) in
// one transaction: each record is stored once under (gw, stream, seq), its
// bytes as they came; records already stored are counted as duplicates,
// records older than the retention window as expired.
func (s *Store) Ingest(gw string, b *wire.RawBatch) (*wire.TelemetryAck, error) {
	if s.closed.Load() {
		return nil, errShuttingDown
	}
	ack := &wire.TelemetryAck{ProtocolVersion: wire.ProtocolVersion, Stream: b.Stream, Sequence: b.Sequence}
	cutoff := s.opts.Now().Add(-s.opts.TelemetryRetention)
	if err := s.be.ingest(gw, b, cutoff, ack); err != nil {
		return nil, s.unavailable(fmt.Errorf("controlplane: store telemetry: %w", err))
	}
	return ack, nil
}

// PruneTelemetry deletes records older than the retention window and
// returns how many it deleted.
func (s *Store) PruneTelemetry() (int, error) {
	return s.be.pruneTelemetry(s.opts.Now().Add(-s.opts.TelemetryRetention))
}

// ReportRecord is one row of a /reports/* answer (ARM's ReportRecordContract,
// plus apiTimeP95 and serviceTimeP95). Times are milliseconds.
type ReportRecord struct {
	Name             string  `json:"name"`
	Timestamp        string  `json:"timestamp,omitempty"`
	Interval         string  `json:"interval,omitempty"`
	APIID            string  `json:"apiId,omitempty"`
	OperationID      string  `json:"operationId,omitempty"`
	ProductID        string  `json:"productId,omitempty"`
	SubscriptionID   string  `json:"subscriptionId,omitempty"`
	GatewayID        string  `json:"gatewayId,omitempty"`
	CallCountSuccess int64   `json:"callCountSuccess"`
	CallCountBlocked int64   `json:"callCountBlocked"`
	CallCountFailed  int64   `json:"callCountFailed"`
	CallCountOther   int64   `json:"callCountOther"`
	CallCountTotal   int64   `json:"callCountTotal"`
	Bandwidth        int64   `json:"bandwidth"`
	CacheHitCount    int64   `json:"cacheHitCount"`
	CacheMissCount   int64   `json:"cacheMissCount"`
	APITimeAvg       float64 `json:"apiTimeAvg"`
	APITimeMin       float64 `json:"apiTimeMin"`
	APITimeMax       float64 `json:"apiTimeMax"`
	APITimeP95       float64 `json:"apiTimeP95"`
	ServiceTimeAvg   float64 `json:"serviceTimeAvg"`
	ServiceTimeMin   float64 `json:"serviceTimeMin"`
	ServiceTimeMax   float64 `json:"serviceTimeMax"`
	ServiceTimeP95   float64 `json:"serviceTimeP95"`
}

// ReportQuery selects and groups telemetry.
type ReportQuery struct {
	// By is "api", "operation", "subscription", "gateway" or "time".
	By string
	// From and To bound record times, inclusive; zero means unbounded.
	From, To time.Time
	// Interval groups by time (By "time").
	Interval time.Duration
}

type agg struct {
	rec     ReportRecord
	api     []float64
	service []float64
}

// classify counts a status the way APIM's reports do.
func classify(r *ReportRecord, status int) {
	switch {
	case status <= 301 || status == 304 || status == 307:
		r.CallCountSuccess++
	case status == 401 || status == 403 || status == 429:
		r.CallCountBlocked++
	case status == 400 || (status >= 500 && status < 600):
		r.CallCountFailed++
	default:
		r.CallCountOther++
	}
	r.CallCountTotal++
}

// Report aggregates the stored telemetry.
func (s *Store) Report(q ReportQuery) ([]ReportRecord, error) {
	if q.By == "time" && q.Interval <= 0 {
		return nil, invalidField("interval", "an ISO 8601 duration such as PT5M is required")
	}
	groups := map[string]*agg{}
	var dec wire.RecordDecoder
	var r wire.TelemetryRecord
	var ferr error
	err := s.be.scanTelemetry(q.From, q.To, func(k, v []byte) bool {
		{
			ts := binary.BigEndian.Uint64(k)
			if err := dec.Decode(v, &r); err != nil {
				return true
			}
			r.Gateway = keyGateway(k)
			var key string
			var base ReportRecord
			switch q.By {
			case "api":
				key = r.API
				base = ReportRecord{Name: r.API, APIID: "/apis/" + r.API}
			case "operation":
				key = r.API + "/" + r.Operation
				base = ReportRecord{Name: r.Operation, APIID: "/apis/" + r.API, OperationID: "/apis/" + r.API + "/operations/" + r.Operation}
			case "subscription":
				key = r.Subscription + "/" + r.Product
				base = ReportRecord{Name: r.Subscription, ProductID: productRef(r.Product), SubscriptionID: subscriptionRef(r.Subscription)}
			case "gateway":
				key = r.Gateway
				base = ReportRecord{Name: r.Gateway, GatewayID: "/gateways/" + r.Gateway}
			case "time":
				start := time.Unix(0, int64(ts)).UTC().Truncate(q.Interval)
				key = start.Format(time.RFC3339)
				base = ReportRecord{Name: key, Timestamp: key, Interval: formatISODuration(q.Interval)}
			default:
				ferr = notFound("Report %q does not exist (byApi, byOperation, bySubscription, byGateway, byTime).", q.By)
				return false
			}
			g := groups[key]
			if g == nil {
				g = &agg{rec: base}
				groups[key] = g
			}
			classify(&g.rec, r.Status)
			g.rec.Bandwidth += r.BytesIn + r.BytesOut
			switch r.Cache {
			case "hit":
				g.rec.CacheHitCount++
			case "miss":
				g.rec.CacheMissCount++
			}
			g.api = append(g.api, float64(r.TotalMicros)/1000)
			if r.BackendStatus != 0 || r.BackendMicros > 0 {
				g.service = append(g.service, float64(r.BackendMicros)/1000)
			}
		}
		return true
	})
	if ferr != nil {
		return nil, ferr
	}
	if err != nil {
		return nil, s.unavailable(err)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ReportRecord, 0, len(keys))
	for _, k := range keys {
		g := groups[k]
		g.rec.APITimeAvg, g.rec.APITimeMin, g.rec.APITimeMax, g.rec.APITimeP95 = stats(g.api)
		g.rec.ServiceTimeAvg, g.rec.ServiceTimeMin, g.rec.ServiceTimeMax, g.rec.ServiceTimeP95 = stats(g.service)
		out = append(out, g.rec)
	}
	return out, nil
}

func productRef(p string) string {
	if p == "" {
		return ""
	}
	return "/products/" + p
}

func subscriptionRef(s string) string {
	if s == "" {
		return ""
	}
	return "/subscriptions/" + s
}

// stats returns avg, min, max and the nearest-rank 95th percentile.
func stats(v []float64) (avg, lo, hi, p95 float64) {
	if len(v) == 0 {
		return 0, 0, 0, 0
	}
	sort.Float64s(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	rank := int(math.Ceil(0.95*float64(len(v)))) - 1
	return sum / float64(len(v)), v[0], v[len(v)-1], v[rank]
}

// parseFilter reads ARM's $filter for reports: clauses "timestamp ge|gt|le|lt
// <RFC 3339>" joined by "and". Anything else is a 400 naming the clause.
func parseFilter(f string) (from, to time.Time, err error) {
	f = strings.TrimSpace(f)
	if f == "" {
		return
	}
	for _, clause := range splitAnd(f) {
		fields := strings.Fields(clause)
		if len(fields) != 3 || !strings.EqualFold(fields[0], "timestamp") {
			return from, to, invalidField("$filter", "unsupported clause %q: use timestamp ge|gt|le|lt <RFC 3339 time>", clause)
		}
		t, perr := time.Parse(time.RFC3339Nano, strings.Trim(fields[2], `'"`))
		if perr != nil {
			return from, to, invalidField("$filter", "%q is not an RFC 3339 time", fields[2])
		}
		switch strings.ToLower(fields[1]) {
		case "ge":
			from = t
		case "gt":
			from = t.Add(time.Nanosecond)
		case "le":
			to = t
		case "lt":
			to = t.Add(-time.Nanosecond)
		default:
			return from, to, invalidField("$filter", "operator %q is not ge, gt, le or lt", fields[1])
		}
	}
	return
}

func splitAnd(f string) []string {
	var out []string
	words := strings.Fields(f)
	var cur []string
	for _, w := range words {
		if strings.EqualFold(w, "and") {
			out = append(out, strings.Join(cur, " "))
			cur = nil
			continue
		}
		cur = append(cur, w)
	}
	return append(out, strings.Join(cur, " "))
}

// parseISODuration reads the ISO 8601 durations reports use: PnDTnHnMnS.
func parseISODuration(s string) (time.Duration, error) {
	orig := s
	if !strings.HasPrefix(s, "P") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration (PT5M, PT1H, P1D)", orig)
	}
	s = s[1:]
	var d time.Duration
	inTime := false
	for len(s) > 0 {
		if s[0] == 'T' {
			inTime = true
			s = s[1:]
			continue
		}
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, fmt.Errorf("%q is not an ISO 8601 duration (PT5M, PT1H, P1D)", orig)
		}
		n, _ := strconv.Atoi(s[:i])
		unit := s[i]
		s = s[i+1:]
		switch {
		case unit == 'D' && !inTime:
			d += time.Duration(n) * 24 * time.Hour
		case unit == 'H' && inTime:
			d += time.Duration(n) * time.Hour
		case unit == 'M' && inTime:
			d += time.Duration(n) * time.Minute
		case unit == 'S' && inTime:
			d += time.Duration(n) * time.Second
		default:
			return 0, fmt.Errorf("%q is not an ISO 8601 duration (PT5M, PT1H, P1D)", orig)
		}
	}
	if d < time.Minute {
		return 0, fmt.Errorf("interval %q is shorter than one minute", orig)
	}
	return d, nil
}

func formatISODuration(d time.Duration) string {
	var b strings.Builder
	b.WriteString("P")
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		d -= days * 24 * time.Hour
	}
	if d > 0 {
		b.WriteString("T")
		if h := d / time.Hour; h > 0 {
			fmt.Fprintf(&b, "%dH", h)
			d -= h * time.Hour
		}
		if m := d / time.Minute; m > 0 {
			fmt.Fprintf(&b, "%dM", m)
			d -= m * time.Minute
		}
		if sec := d / time.Second; sec > 0 {
			fmt.Fprintf(&b, "%dS", sec)
		}
	}
	return b.String()
}
