package telemetry

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/apimgw/apimgw/appliance"
	"github.com/apimgw/apimgw/wire"
)

// FormatV1 is the first byte of every record this build writes. A record
// with another first byte is refused by Decode (ErrRecordFormat): a queue
// written by a newer build is not guessed at.
const FormatV1 = 1

// MaxStringBytes bounds each string of a record; longer ones (a runaway
// error text, a huge path template) are cut at this length, so a record is
// never larger than MaxRecordBytes.
const MaxStringBytes = 1024

// numStrings is the number of string fields of the encoding.
const numStrings = 9

// fixedBound is the largest encoding of the non-string part: the version
// byte, the 8-byte time and six varints.
const fixedBound = 1 + 8 + 6*binary.MaxVarintLen64

// MaxRecordBytes is the largest encoded record.
const MaxRecordBytes = fixedBound + numStrings*(binary.MaxVarintLen16+MaxStringBytes)

// Layout of a version-1 record, in order:
//
//	byte     1 (FormatV1)
//	8 bytes  request start, Unix nanoseconds, little endian
//	varints  status, backend status, total µs, backend µs, bytes in, bytes out (zig-zag)
//	strings  api, operation, product, subscription, method, path template,
//	         client IP, cache, error: each a uvarint length and the bytes
//
// The cache slot is written empty until the handler reports cache status.

// bound returns an upper limit of the encoded size of r.
func bound(r *appliance.Record) int {
	n := fixedBound
	for _, s := range [...]string{r.API, r.Operation, r.Product, r.Subscription, r.Method, r.PathTemplate, r.ClientIP, r.Error} {
		n += binary.MaxVarintLen16 + min(len(s), MaxStringBytes)
	}
	return n + 1 // the empty cache slot
}

func appendString(dst []byte, s string) []byte {
	if len(s) > MaxStringBytes {
		s = s[:MaxStringBytes]
	}
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendRecord appends the binary encoding of r to dst and returns the
// extended slice. It does not allocate when dst has room for the record
// (at most MaxRecordBytes). r is only read during the call.
func AppendRecord(dst []byte, r *appliance.Record) []byte {
	dst = append(dst, FormatV1)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
	dst = binary.AppendVarint(dst, int64(r.Status))
	dst = binary.AppendVarint(dst, int64(r.BackendStatus))
	dst = binary.AppendVarint(dst, r.Total.Microseconds())
	dst = binary.AppendVarint(dst, r.Backend.Microseconds())
	dst = binary.AppendVarint(dst, r.BytesIn)
	dst = binary.AppendVarint(dst, r.BytesOut)
	dst = appendString(dst, r.API)
	dst = appendString(dst, r.Operation)
	dst = appendString(dst, r.Product)
	dst = appendString(dst, r.Subscription)
	dst = appendString(dst, r.Method)
	dst = appendString(dst, r.PathTemplate)
	dst = appendString(dst, r.ClientIP)
	dst = appendString(dst, "") // cache
	dst = appendString(dst, r.Error)
	return dst
}

// Decoder turns queued records back into wire records. It interns the
// strings that repeat from record to record (API, operation, method …), so a
// batch of thousands of records costs a few string allocations, not
// thousands. A Decoder is not safe for concurrent use; use one per uploader
// goroutine.
type Decoder struct {
	strs map[string]string
}

// maxInterned bounds the intern table; it starts over when full.
const maxInterned = 8192

func (d *Decoder) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if d.strs == nil {
		d.strs = make(map[string]string, 256)
	}
	if s, ok := d.strs[string(b)]; ok { // no allocation for the lookup
		return s
	}
	if len(d.strs) >= maxInterned {
		clear(d.strs)
	}
	s := string(b)
	d.strs[s] = s
	return s
}

// Decode fills out from one queued record and its queue sequence (which
// becomes the record's seq). It returns ErrRecordFormat (naming the sequence
// and what is wrong) for bytes it cannot read; out is then unspecified.
func (d *Decoder) Decode(seq uint64, data []byte, out *wire.TelemetryRecord) error {
	fail := func(what string) error {
		return fmt.Errorf("%w: seq %d: %s", ErrRecordFormat, seq, what)
	}
	if len(data) < 9 {
		return fail(fmt.Sprintf("%d bytes, shorter than a record", len(data)))
	}
	if data[0] != FormatV1 {
		return fail(fmt.Sprintf("format byte %d, this build reads %d", data[0], FormatV1))
	}
	*out = wire.TelemetryRecord{Seq: seq, Time: time.Unix(0, int64(binary.LittleEndian.Uint64(data[1:9]))).UTC()}
	p := data[9:]
	var ints [6]int64
	for i := range ints {
		v, n := binary.Varint(p)
		if n <= 0 {
			return fail(fmt.Sprintf("number %d is truncated", i+1))
		}
		ints[i], p = v, p[n:]
	}
	if ints[0] < 0 || ints[0] > 999 || ints[1] < 0 || ints[1] > 999 {
		return fail(fmt.Sprintf("status %d / backend status %d out of range", ints[0], ints[1]))
	}
	out.Status, out.BackendStatus = int(ints[0]), int(ints[1])
	out.TotalMicros, out.BackendMicros, out.BytesIn, out.BytesOut = ints[2], ints[3], ints[4], ints[5]
	dsts := [numStrings]*string{&out.API, &out.Operation, &out.Product, &out.Subscription, &out.Method,
		&out.PathTemplate, &out.ClientIP, &out.Cache, &out.Error}
	for i, dst := range dsts {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return fail(fmt.Sprintf("string %d is truncated", i+1))
		}
		*dst, p = d.str(p[n:n+int(l)]), p[n+int(l):]
	}
	if len(p) != 0 {
		return fail(fmt.Sprintf("%d bytes after the last field", len(p)))
	}
	return nil
}
