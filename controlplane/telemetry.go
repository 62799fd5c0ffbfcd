package controlplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/apimgw/apimgw/wire"
)

// telemetryStore keeps telemetry records in bucket "telemetry" under
// key = time (8 bytes, big-endian Unix nanoseconds) | gateway | 0 | stream | 0 | seq (8 bytes),
// so a time range is one cursor walk and a record sent twice lands on the
// same key (which is what makes ingest idempotent).
type telemetryStore struct {
	db        *bolt.DB
	retention time.Duration
	now       func() time.Time
}

func telemetryKey(t time.Time, gw, stream string, seq uint64) []byte {
	k := make([]byte, 0, 8+len(gw)+1+len(stream)+1+8)
	k = binary.BigEndian.AppendUint64(k, uint64(t.UnixNano()))
	k = append(k, gw...)
	k = append(k, 0)
	k = append(k, stream...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// storedRecord is what a report needs of a record, in a compact binary form.
type storedRecord struct {
	gateway, api, operation, product, subscription string
	status, backendStatus                          int
	totalUs, backendUs, bytesIn, bytesOut          int64
	cache                                          string
	hasBackend                                     bool
	method, pathTemplate, clientIP                 string // for reports/byRequest
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeRecord: version byte 1, then strings and varints (see decodeRecord).
func encodeRecord(b []byte, gw string, r *wire.TelemetryRecord) []byte {
	b = append(b, 1)
	for _, s := range []string{gw, r.API, r.Operation, r.Product, r.Subscription, r.Method, r.PathTemplate, r.ClientIP, r.Cache, r.Error} {
		b = appendString(b, s)
	}
	for _, v := range []int64{int64(r.Status), int64(r.BackendStatus), r.TotalMicros, r.BackendMicros, r.BytesIn, r.BytesOut} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

var errBadRecord = errors.New("controlplane: undecodable telemetry record")

func decodeRecord(b []byte) (storedRecord, error) {
	var r storedRecord
	if len(b) == 0 || b[0] != 1 {
		return r, errBadRecord
	}
	b = b[1:]
	var strs [10]string
	for i := range strs {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return r, errBadRecord
		}
		strs[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	var ints [6]int64
	for i := range ints {
		v, w := binary.Varint(b)
		if w <= 0 {
			return r, errBadRecord
		}
		ints[i] = v
		b = b[w:]
	}
	r.gateway, r.api, r.operation, r.product, r.subscription, r.cache = strs[0], strs[1], strs[2], strs[3], strs[4], strs[8]
	r.method, r.pathTemplate, r.clientIP = strs[5], strs[6], strs[7]
	r.status, r.backendStatus = int(ints[0]), int(ints[1])
	r.totalUs, r.backendUs, r.bytesIn, r.bytesOut = ints[2], ints[3], ints[4], ints[5]
	r.hasBackend = r.backendStatus != 0 || r.backendUs > 0
	return r, nil
}

// Ingest stores batch b from gateway gw (already authenticated and
// validated) in one transaction: each record is stored once under
// (gw, stream, seq); records already stored are counted as duplicates,
// records older than the retention window as expired.
func (s *Store) Ingest(gw string, b *wire.TelemetryBatch) (*wire.TelemetryAck, error) {
	if s.closed.Load() {
		return nil, errShuttingDown
	}
	ack := &wire.TelemetryAck{ProtocolVersion: wire.ProtocolVersion, Stream: b.Stream, Sequence: b.Sequence}
	cutoff := s.opts.Now().Add(-s.telemetry.retention)
	var buf []byte
	// Batch: concurrent uploads from many gateways share one commit (one
	// fsync). The function may run twice; it starts its counts afresh.
	err := s.db.Batch(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketTelemetry))
		ack.Accepted, ack.Duplicates, ack.Expired = 0, 0, 0
		for i := range b.Records {
			r := &b.Records[i]
			if r.Time.Before(cutoff) {
				ack.Expired++
				continue
			}
			key := telemetryKey(r.Time, gw, b.Stream, r.Seq)
			if bk.Get(key) != nil {
				ack.Duplicates++
				continue
			}
			buf = encodeRecord(buf[:0], gw, r)
			if err := bk.Put(key, append([]byte(nil), buf...)); err != nil {
				return err
			}
			ack.Accepted++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: store telemetry: %w", err)
	}
	return ack, nil
}

// PruneTelemetry deletes records older than the retention window and
// returns how many it deleted.
func (s *Store) PruneTelemetry() (int, error) {
	cutoff := uint64(s.opts.Now().Add(-s.telemetry.retention).UnixNano())
	n := 0
	for {
		done := true
		err := s.db.Update(func(tx *bolt.Tx) error {
			c := tx.Bucket([]byte(bucketTelemetry)).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if len(k) < 8 || binary.BigEndian.Uint64(k) >= cutoff {
					return nil
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
				if n%10000 == 0 {
					done = false // keep transactions short
					return nil
				}
			}
			return nil
		})
		if err != nil || done {
			return n, err
		}
	}
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
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketTelemetry)).Cursor()
		var k, v []byte
		if q.From.IsZero() {
			k, v = c.First()
		} else {
			k, v = c.Seek(binary.BigEndian.AppendUint64(nil, uint64(q.From.UnixNano())))
		}
		var to uint64 = math.MaxUint64
		if !q.To.IsZero() {
			to = uint64(q.To.UnixNano())
		}
		for ; k != nil; k, v = c.Next() {
			ts := binary.BigEndian.Uint64(k)
			if ts > to {
				break
			}
			r, err := decodeRecord(v)
			if err != nil {
				continue
			}
			var key string
			var base ReportRecord
			switch q.By {
			case "api":
				key = r.api
				base = ReportRecord{Name: r.api, APIID: "/apis/" + r.api}
			case "operation":
				key = r.api + "/" + r.operation
				base = ReportRecord{Name: r.operation, APIID: "/apis/" + r.api, OperationID: "/apis/" + r.api + "/operations/" + r.operation}
			case "subscription":
				key = r.subscription + "/" + r.product
				base = ReportRecord{Name: r.subscription, ProductID: productRef(r.product), SubscriptionID: subscriptionRef(r.subscription)}
			case "gateway":
				key = r.gateway
				base = ReportRecord{Name: r.gateway, GatewayID: "/gateways/" + r.gateway}
			case "time":
				start := time.Unix(0, int64(ts)).UTC().Truncate(q.Interval)
				key = start.Format(time.RFC3339)
				base = ReportRecord{Name: key, Timestamp: key, Interval: formatISODuration(q.Interval)}
			default:
				return notFound("Report %q does not exist (byApi, byOperation, bySubscription, byGateway, byTime).", q.By)
			}
			g := groups[key]
			if g == nil {
				g = &agg{rec: base}
				groups[key] = g
			}
			classify(&g.rec, r.status)
			g.rec.Bandwidth += r.bytesIn + r.bytesOut
			switch r.cache {
			case "hit":
				g.rec.CacheHitCount++
			case "miss":
				g.rec.CacheMissCount++
			}
			g.api = append(g.api, float64(r.totalUs)/1000)
			if r.hasBackend {
				g.service = append(g.service, float64(r.backendUs)/1000)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
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
