package telemetry

import (
	"encoding/binary"
	"time"

	"github.com/apimgw/apimgw/appliance"
	"github.com/apimgw/apimgw/wire"
)

// Records are queued in wire's binary record encoding (wire.AppendRecord),
// the one the upload batches and the control plane's store use too: the
// uploader sends the queued bytes as they are.

// MaxStringBytes bounds each string of a record (wire.MaxRecordStringBytes);
// longer ones are cut, so a record is never larger than MaxRecordBytes.
const MaxStringBytes = wire.MaxRecordStringBytes

// MaxRecordBytes is the largest encoded record.
const MaxRecordBytes = wire.MaxRecordBytes

// bound returns an upper limit of the encoded size of r.
func bound(r *appliance.Record) int {
	n := 1 + 8 + 6*binary.MaxVarintLen64 + binary.MaxVarintLen16 // + the gRPC status
	for _, s := range [...]string{r.API, r.Operation, r.Product, r.Subscription, r.Method, r.PathTemplate, r.ClientIP, r.Error} {
		n += binary.MaxVarintLen16 + min(len(s), MaxStringBytes)
	}
	return n + 1 + len(clientClosed) // the empty cache slot; the error a status-0 record gets
}

// clientClosed is the error of a request that got no response (the client
// went away first): it is reported with status 499, as nginx does.
const clientClosed = "client-closed"

// AppendRecord appends the wire encoding of r to dst and returns the
// extended slice. It does not allocate when dst has room for the record
// (at most MaxRecordBytes). r is only read during the call.
//
// A request that got no response (status 0) is recorded as 499
// "client-closed", so every queued record is one the control plane accepts.
func AppendRecord(dst []byte, r *appliance.Record) []byte {
	w := wire.TelemetryRecord{
		Time: r.Time, API: r.API, Operation: r.Operation, Product: r.Product, Subscription: r.Subscription,
		Method: r.Method, PathTemplate: r.PathTemplate, Status: r.Status, BackendStatus: r.BackendStatus,
		TotalMicros: r.Total.Microseconds(), BackendMicros: r.Backend.Microseconds(),
		BytesIn: r.BytesIn, BytesOut: r.BytesOut, ClientIP: r.ClientIP, Error: r.Error,
	}
	if r.GRPC {
		code := r.GRPCStatus
		w.GRPCStatus = &code
	}
	if w.Time.IsZero() {
		w.Time = time.Now() // not expected from the handler; the control plane refuses timeless records
	}
	if w.Status < 100 || w.Status > 999 {
		w.Status = 499
		if w.Error == "" {
			w.Error = clientClosed
		}
	}
	return wire.AppendRecord(dst, &w)
}
