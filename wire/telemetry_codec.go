package wire

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The binary telemetry codec: one encoding of a TelemetryRecord, used by the
// gateway's on-disk queue, the upload batches and the control plane's store,
// so a record is encoded once at the edge and its bytes travel and are stored
// as they are.
//
// Layout of a record (RecordFormatV1), in order:
//
//	byte     1 (RecordFormatV1)
//	8 bytes  request start, Unix nanoseconds, little endian
//	varints  status, backend status, total µs, backend µs, bytes in, bytes out (zig-zag)
//	strings  api, operation, product, subscription, method, path template,
//	         client IP, cache, error: each a uvarint length and the bytes
//
// Seq and Gateway are not part of a record: the queue key, the batch framing
// and the control plane's store key carry them.
//
// A record with a gRPC status (RecordFormatV2) is the same with the first
// byte 2 and one more uvarint after the last string: the gRPC status code.
// Records without one are written as RecordFormatV1, byte for byte as
// before, so only gRPC calls need a control plane that reads V2.

// RecordFormatV1 is the first byte of a record without a gRPC status. A
// record with a first byte other than RecordFormatV1 or RecordFormatV2 is
// refused by Decode: bytes written by a newer build are not guessed at.
const RecordFormatV1 = 1

// RecordFormatV2 is the first byte of a record with a gRPC status.
const RecordFormatV2 = 2

// MaxGRPCStatus bounds a record's gRPC status code (gRPC defines 0-16; a
// backend may send others, recorded as they are up to this bound).
const MaxGRPCStatus = 999

// MaxRecordStringBytes bounds each string of a record; longer ones (a
// runaway error text, a huge path template) are cut at this length, so a
// record is never larger than MaxRecordBytes.
const MaxRecordStringBytes = 1024

const (
	recordStrings    = 9
	recordFixedBound = 1 + 8 + 6*binary.MaxVarintLen64 + binary.MaxVarintLen16 // + the gRPC status
	// MaxRecordBytes is the largest encoded record.
	MaxRecordBytes = recordFixedBound + recordStrings*(binary.MaxVarintLen16+MaxRecordStringBytes)
)

func appendRecordString(dst []byte, s string) []byte {
	if len(s) > MaxRecordStringBytes {
		s = s[:MaxRecordStringBytes]
	}
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendRecord appends the binary encoding of r (all but Seq and Gateway) to
// dst and returns the extended slice. It does not allocate when dst has room
// (at most MaxRecordBytes). r is only read during the call.
func AppendRecord(dst []byte, r *TelemetryRecord) []byte {
	if r.GRPCStatus != nil {
		dst = append(dst, RecordFormatV2)
	} else {
		dst = append(dst, RecordFormatV1)
	}
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
	dst = binary.AppendVarint(dst, int64(r.Status))
	dst = binary.AppendVarint(dst, int64(r.BackendStatus))
	dst = binary.AppendVarint(dst, r.TotalMicros)
	dst = binary.AppendVarint(dst, r.BackendMicros)
	dst = binary.AppendVarint(dst, r.BytesIn)
	dst = binary.AppendVarint(dst, r.BytesOut)
	dst = appendRecordString(dst, r.API)
	dst = appendRecordString(dst, r.Operation)
	dst = appendRecordString(dst, r.Product)
	dst = appendRecordString(dst, r.Subscription)
	dst = appendRecordString(dst, r.Method)
	dst = appendRecordString(dst, r.PathTemplate)
	dst = appendRecordString(dst, r.ClientIP)
	dst = appendRecordString(dst, r.Cache)
	dst = appendRecordString(dst, r.Error)
	if r.GRPCStatus != nil {
		dst = binary.AppendUvarint(dst, uint64(min(max(*r.GRPCStatus, 0), MaxGRPCStatus)))
	}
	return dst
}

// RecordDecoder turns encoded records back into TelemetryRecords. It interns
// the strings that repeat from record to record (API, operation, method …),
// so thousands of records cost a few string allocations, not thousands. A
// RecordDecoder is not safe for concurrent use; the zero value is ready.
type RecordDecoder struct {
	strs  map[string]string
	codes [17]int // gRPC's codes, pointed to by decoded records (no allocation)
}

// grpcCode returns a pointer holding code: into d.codes for gRPC's codes.
func (d *RecordDecoder) grpcCode(code int) *int {
	if code >= 0 && code < len(d.codes) {
		d.codes[code] = code
		return &d.codes[code]
	}
	return &code
}

// maxInterned bounds the intern table; it starts over when full.
const maxInterned = 8192

func (d *RecordDecoder) str(b []byte) string {
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

// Decode fills out from one encoded record (out.Seq and out.Gateway are left
// as they are). It returns an error wrapping ErrInvalidTelemetry that says
// what is wrong for bytes it cannot read; out is then unspecified.
func (d *RecordDecoder) Decode(data []byte, out *TelemetryRecord) error {
	seq, gw := out.Seq, out.Gateway
	*out = TelemetryRecord{Seq: seq, Gateway: gw}
	return decodeRecord(data, out, d.str, d.grpcCode)
}

// CheckRecord reports whether data is a record Decode would accept and
// Validate would pass (a time, a status 100-999), without building strings.
func CheckRecord(data []byte) error {
	var r TelemetryRecord
	if err := decodeRecord(data, &r, nil, nil); err != nil {
		return err
	}
	return checkRecordFields(&r)
}

func checkRecordFields(r *TelemetryRecord) error {
	if r.Time.IsZero() || r.Time.UnixNano() <= 0 {
		return fmt.Errorf("%w: record has no time", ErrInvalidTelemetry)
	}
	if r.Status < 100 || r.Status > 999 {
		return fmt.Errorf("%w: record status %d", ErrInvalidTelemetry, r.Status)
	}
	return nil
}

// decodeRecord reads data into out; str makes the strings and code the gRPC
// status (nil: they are only checked, not made).
func decodeRecord(data []byte, out *TelemetryRecord, str func([]byte) string, code func(int) *int) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: record: %s", ErrInvalidTelemetry, fmt.Sprintf(format, a...))
	}
	if len(data) < 9 {
		return fail("%d bytes, shorter than a record", len(data))
	}
	if data[0] != RecordFormatV1 && data[0] != RecordFormatV2 {
		return fail("format byte %d, this build reads %d and %d", data[0], RecordFormatV1, RecordFormatV2)
	}
	out.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(data[1:9]))).UTC()
	p := data[9:]
	var ints [6]int64
	for i := range ints {
		v, n := binary.Varint(p)
		if n <= 0 {
			return fail("number %d is truncated", i+1)
		}
		ints[i], p = v, p[n:]
	}
	if ints[0] < 0 || ints[0] > 999 || ints[1] < 0 || ints[1] > 999 {
		return fail("status %d / backend status %d out of range", ints[0], ints[1])
	}
	out.Status, out.BackendStatus = int(ints[0]), int(ints[1])
	out.TotalMicros, out.BackendMicros, out.BytesIn, out.BytesOut = ints[2], ints[3], ints[4], ints[5]
	dsts := [recordStrings]*string{&out.API, &out.Operation, &out.Product, &out.Subscription, &out.Method,
		&out.PathTemplate, &out.ClientIP, &out.Cache, &out.Error}
	for i, dst := range dsts {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return fail("string %d is truncated", i+1)
		}
		if l > MaxRecordStringBytes {
			return fail("string %d is %d bytes, more than %d", i+1, l, MaxRecordStringBytes)
		}
		if str != nil {
			*dst = str(p[n : n+int(l)])
		}
		p = p[n+int(l):]
	}
	if data[0] == RecordFormatV2 {
		v, n := minimalUvarint(p)
		if n <= 0 {
			return fail("the gRPC status is truncated")
		}
		if v > MaxGRPCStatus {
			return fail("gRPC status %d, more than %d", v, MaxGRPCStatus)
		}
		p = p[n:]
		if code != nil {
			out.GRPCStatus = code(int(v))
		}
	}
	if len(p) != 0 {
		return fail("%d bytes after the last field", len(p))
	}
	return nil
}

// The binary batch: what a gateway POSTs to PathTelemetry with Content-Type
// TelemetryBatchContentType (JSON TelemetryBatch bodies stay accepted). The
// records are the queue's bytes as they are, so the gateway neither decodes
// nor re-encodes them:
//
//	4 bytes  "ATB1"
//	uvarint  protocol version
//	string   gateway, stream (uvarint length and bytes)
//	uvarint  sequence
//	uvarint  record count
//	records  each: uvarint seq, uvarint length, the record's bytes
//
// The body may be gzip-compressed (Content-Encoding: gzip).

// TelemetryBatchContentType is the media type of a binary batch.
const TelemetryBatchContentType = "application/x-apimgw-telemetry"

const batchMagic = "ATB1"

// RawRecord is one encoded record with its sequence number.
type RawRecord struct {
	Seq  uint64
	Data []byte
}

// RawBatch is a binary batch: the TelemetryBatch header and its records
// still encoded.
type RawBatch struct {
	ProtocolVersion int
	Gateway         string
	Stream          string
	Sequence        uint64
	Records         []RawRecord
}

// AppendRawBatch appends the binary encoding of b to dst.
func AppendRawBatch(dst []byte, b *RawBatch) []byte {
	dst = append(dst, batchMagic...)
	dst = binary.AppendUvarint(dst, uint64(b.ProtocolVersion))
	dst = appendRecordString(dst, b.Gateway)
	dst = appendRecordString(dst, b.Stream)
	dst = binary.AppendUvarint(dst, b.Sequence)
	dst = binary.AppendUvarint(dst, uint64(len(b.Records)))
	for _, r := range b.Records {
		dst = binary.AppendUvarint(dst, r.Seq)
		dst = binary.AppendUvarint(dst, uint64(len(r.Data)))
		dst = append(dst, r.Data...)
	}
	return dst
}

// ParseRawBatch reads a binary batch. The records' Data alias data. It
// checks the framing and what Validate checks of a TelemetryBatch (protocol
// version, gateway, stream, count, seq non-zero and unique, each record
// decodable with a time and a status); errors wrap ErrInvalidTelemetry (or
// ErrProtocolVersion) and name the record.
func ParseRawBatch(data []byte) (*RawBatch, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidTelemetry, fmt.Sprintf(format, a...))
	}
	if len(data) < len(batchMagic) || string(data[:len(batchMagic)]) != batchMagic {
		return nil, fail("not a binary telemetry batch (no %q header)", batchMagic)
	}
	p := data[len(batchMagic):]
	uv := func(what string) (uint64, error) {
		v, n := minimalUvarint(p)
		if n <= 0 {
			return 0, fail("%s is truncated", what)
		}
		p = p[n:]
		return v, nil
	}
	str := func(what string) (string, error) {
		l, err := uv(what)
		if err != nil {
			return "", err
		}
		if l > uint64(len(p)) {
			return "", fail("%s is truncated", what)
		}
		s := string(p[:l])
		p = p[l:]
		return s, nil
	}
	b := &RawBatch{}
	v, err := uv("protocol version")
	if err != nil {
		return nil, err
	}
	if v != ProtocolVersion {
		return nil, fmt.Errorf("%w: batch has %d, this build speaks %d", ErrProtocolVersion, v, ProtocolVersion)
	}
	b.ProtocolVersion = int(v)
	if b.Gateway, err = str("gateway"); err != nil {
		return nil, err
	}
	if b.Stream, err = str("stream"); err != nil {
		return nil, err
	}
	if b.Gateway == "" || len(b.Gateway) > 256 {
		return nil, fail("gateway is empty or longer than 256 bytes")
	}
	if b.Stream == "" || len(b.Stream) > 128 {
		return nil, fail("stream must be 1-128 characters")
	}
	if b.Sequence, err = uv("sequence"); err != nil {
		return nil, err
	}
	n, err := uv("record count")
	if err != nil {
		return nil, err
	}
	if n > MaxTelemetryRecords {
		return nil, fmt.Errorf("%w: %w: %d records, at most %d per batch", ErrInvalidTelemetry, ErrTelemetryTooLarge, n, MaxTelemetryRecords)
	}
	b.Records = make([]RawRecord, 0, n)
	// Sequences are checked for duplicates in a map only when they do not
	// simply increase (a gateway sends them increasing).
	var seen map[uint64]struct{}
	var prev uint64
	for i := range int(n) {
		seq, w := minimalUvarint(p)
		if w <= 0 {
			return nil, fail("records[%d].seq is truncated", i)
		}
		p = p[w:]
		l, w := minimalUvarint(p)
		if w <= 0 {
			return nil, fail("records[%d] length is truncated", i)
		}
		p = p[w:]
		if l > uint64(len(p)) {
			return nil, fail("records[%d] (seq %d) is truncated", i, seq)
		}
		rec := p[:l]
		p = p[l:]
		if seq == 0 {
			return nil, fail("records[%d].seq is 0", i)
		}
		if seen == nil && seq <= prev {
			seen = make(map[uint64]struct{}, n)
			for _, r := range b.Records {
				seen[r.Seq] = struct{}{}
			}
		}
		if seen != nil {
			if _, dup := seen[seq]; dup {
				return nil, fail("records[%d].seq %d appears twice", i, seq)
			}
			seen[seq] = struct{}{}
		}
		prev = seq
		if err := CheckRecord(rec); err != nil {
			return nil, fmt.Errorf("records[%d] (seq %d): %w", i, seq, err)
		}
		b.Records = append(b.Records, RawRecord{Seq: seq, Data: rec})
	}
	if len(p) != 0 {
		return nil, fail("%d bytes after the last record", len(p))
	}
	return b, nil
}

// minimalUvarint is binary.Uvarint refusing (n <= 0) a number not written in
// its shortest form, so that a batch has exactly one encoding.
func minimalUvarint(p []byte) (uint64, int) {
	v, n := binary.Uvarint(p)
	if n > 1 && p[n-1] == 0 {
		return 0, -1
	}
	return v, n
}

// RecordTime reads the time of an encoded record without decoding the rest
// (zero time for bytes too short to be a record).
func RecordTime(data []byte) time.Time {
	if len(data) < 9 || data[0] != RecordFormatV1 && data[0] != RecordFormatV2 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.LittleEndian.Uint64(data[1:9]))).UTC()
}
