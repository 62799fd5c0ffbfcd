package wire

import (
	"fmt"
	"time"
)

// MaxTelemetryRecords is the most records one TelemetryBatch may hold; the
// control plane refuses bigger batches (413).
const MaxTelemetryRecords = 10000

// TelemetryBatch is what a gateway POSTs to PathTelemetry as JSON (the body
// may be gzip-compressed with Content-Encoding: gzip). apimgw sends the same
// content as a binary RawBatch (TelemetryBatchContentType); the control
// plane takes both.
//
// Idempotence: every record carries a sequence number Seq, unique and
// increasing within Stream. The control plane stores each record under
// (gateway, Stream, Seq) and counts it once, however often and in whatever
// grouping it arrives. So a gateway may resend any records that were not
// acknowledged, batched differently, without double counting.
type TelemetryBatch struct {
	ProtocolVersion int `json:"protocolVersion"`
	// Gateway must equal the token's gateway id.
	Gateway string `json:"gateway"`
	// Stream identifies the gateway's queue instance (e.g. a random id made
	// when the store file was created), so sequence numbers that restart with
	// a fresh store are not mistaken for duplicates.
	Stream string `json:"stream"`
	// Sequence identifies the batch in the ack (conventionally the Seq of its
	// last record); it has no meaning for deduplication.
	Sequence uint64            `json:"sequence"`
	Records  []TelemetryRecord `json:"records"`
}

// TelemetryRecord describes one request the gateway handled.
type TelemetryRecord struct {
	// Seq is unique and increasing within the batch's Stream (the queue key).
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Gateway is informational; the control plane uses the token's gateway id.
	Gateway      string `json:"gateway,omitempty"`
	API          string `json:"api,omitempty"`
	Operation    string `json:"operation,omitempty"`
	Product      string `json:"product,omitempty"`
	Subscription string `json:"subscription,omitempty"`
	Method       string `json:"method"`
	// PathTemplate is the matched operation's URL template (not the raw path,
	// which may hold personal data); the raw path when no operation matched.
	PathTemplate string `json:"pathTemplate,omitempty"`
	// Status is the status sent to the client; BackendStatus the backend's
	// (0 when the backend was not called).
	Status        int `json:"status"`
	BackendStatus int `json:"backendStatus,omitempty"`
	// TotalMicros is the time from request head received to response sent;
	// BackendMicros the part spent waiting on the backend.
	TotalMicros   int64  `json:"totalUs"`
	BackendMicros int64  `json:"backendUs,omitempty"`
	BytesIn       int64  `json:"bytesIn"`
	BytesOut      int64  `json:"bytesOut"`
	ClientIP      string `json:"clientIp,omitempty"`
	// Cache is "hit", "miss" or "" (no cache policy).
	Cache string `json:"cache,omitempty"`
	// Error names why the gateway failed or blocked the call ("" when it did
	// not): e.g. "subscription-key-missing", "rate-limit", "backend-timeout".
	Error string `json:"error,omitempty"`
	// GRPCStatus is the gRPC status code a gRPC call ended with: the
	// backend's grpc-status, or the code the gateway mapped its own answer
	// to (Status then keeps that answer's HTTP status). nil for other
	// requests and for a gRPC call cut off before a status. A decoded
	// record's pointer may be shared with other records: do not write
	// through it.
	GRPCStatus *int `json:"grpcStatus,omitempty"`
}

// TelemetryAck is the control plane's answer to a TelemetryBatch. Once a
// gateway has it (HTTP 200), it may delete every record of the batch.
type TelemetryAck struct {
	ProtocolVersion int    `json:"protocolVersion"`
	Stream          string `json:"stream"`
	// Sequence echoes the batch's Sequence.
	Sequence uint64 `json:"sequence"`
	// Accepted counts records stored for the first time; Duplicates those
	// already stored before (a resend). Accepted+Duplicates = len(Records).
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	// Expired counts records older than the control plane's retention window,
	// acknowledged but not stored.
	Expired int `json:"expired,omitempty"`
}

// Validate checks protocol version, stream and record sanity: at most
// MaxTelemetryRecords records, each with a non-zero Seq unique in the batch,
// a time and a status.
func (b *TelemetryBatch) Validate() error {
	if b.ProtocolVersion != ProtocolVersion {
		return fmt.Errorf("%w: batch has %d, this build speaks %d", ErrProtocolVersion, b.ProtocolVersion, ProtocolVersion)
	}
	if b.Gateway == "" {
		return fmt.Errorf("%w: gateway is empty", ErrInvalidTelemetry)
	}
	if b.Stream == "" || len(b.Stream) > 128 {
		return fmt.Errorf("%w: stream must be 1-128 characters", ErrInvalidTelemetry)
	}
	if len(b.Records) > MaxTelemetryRecords {
		return fmt.Errorf("%w: %w: %d records, at most %d per batch", ErrInvalidTelemetry, ErrTelemetryTooLarge, len(b.Records), MaxTelemetryRecords)
	}
	seen := make(map[uint64]struct{}, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		if r.Seq == 0 {
			return fmt.Errorf("%w: records[%d].seq is 0", ErrInvalidTelemetry, i)
		}
		if _, dup := seen[r.Seq]; dup {
			return fmt.Errorf("%w: records[%d].seq %d appears twice", ErrInvalidTelemetry, i, r.Seq)
		}
		seen[r.Seq] = struct{}{}
		if r.Time.IsZero() {
			return fmt.Errorf("%w: records[%d] (seq %d) has no time", ErrInvalidTelemetry, i, r.Seq)
		}
		if r.Status < 100 || r.Status > 999 {
			return fmt.Errorf("%w: records[%d] (seq %d) status %d", ErrInvalidTelemetry, i, r.Seq, r.Status)
		}
		if r.GRPCStatus != nil && (*r.GRPCStatus < 0 || *r.GRPCStatus > MaxGRPCStatus) {
			return fmt.Errorf("%w: records[%d] (seq %d) grpcStatus %d, want 0-%d", ErrInvalidTelemetry, i, r.Seq, *r.GRPCStatus, MaxGRPCStatus)
		}
	}
	return nil
}
