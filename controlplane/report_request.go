package controlplane

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"strconv"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// RequestReportRecord is one row of /reports/byRequest: one stored telemetry
// record, as ARM's RequestReportRecordContract. Times are milliseconds.
// Differences from APIM: url is the matched operation's URL template (the
// gateway never sends the raw path, which may hold personal data; the raw path
// only when no operation matched); requestId is the record's identity at the
// control plane, gateway/stream/sequence (apimgw records carry no request id
// of the gateway), so a record stored twice would show as two ids; gatewayId
// and grpcStatus are additions; apiRegion and userId are not recorded.
type RequestReportRecord struct {
	APIID               string  `json:"apiId,omitempty"`
	OperationID         string  `json:"operationId,omitempty"`
	ProductID           string  `json:"productId,omitempty"`
	SubscriptionID      string  `json:"subscriptionId,omitempty"`
	GatewayID           string  `json:"gatewayId,omitempty"`
	Method              string  `json:"method"`
	URL                 string  `json:"url"`
	IPAddress           string  `json:"ipAddress,omitempty"`
	BackendResponseCode string  `json:"backendResponseCode,omitempty"`
	ResponseCode        int     `json:"responseCode"`
	ResponseSize        int64   `json:"responseSize"`
	RequestSize         int64   `json:"requestSize"`
	Timestamp           string  `json:"timestamp"`
	Cache               string  `json:"cache"`
	APITime             float64 `json:"apiTime"`
	ServiceTime         float64 `json:"serviceTime"`
	RequestID           string  `json:"requestId"`
	// GRPCStatus is an addition: the gRPC status code of a gRPC call (the
	// backend's grpc-status, or the code the gateway mapped its own answer
	// to — responseCode then keeps that answer's HTTP status); absent for
	// other requests.
	GRPCStatus *int `json:"grpcStatus,omitempty"`
}

// RequestReport lists the stored records with a time in [from, to] (zero:
// unbounded), oldest first, skipping skip and returning at most top (0: all).
func (s *Store) RequestReport(from, to time.Time, skip, top int) ([]RequestReportRecord, error) {
	out := []RequestReportRecord{}
	var dec wire.RecordDecoder
	var r wire.TelemetryRecord
	err := s.be.scanTelemetry(from, to, func(k, v []byte) bool {
		if top != 0 && len(out) >= top {
			return false
		}
		{
			ts := binary.BigEndian.Uint64(k)
			if err := dec.Decode(v, &r); err != nil {
				return true
			}
			if skip > 0 {
				skip--
				return true
			}
			row := RequestReportRecord{APIID: "/apis/" + r.API, ProductID: productRef(r.Product),
				SubscriptionID: subscriptionRef(r.Subscription), GatewayID: "/gateways/" + keyGateway(k),
				Method: r.Method, URL: r.PathTemplate, IPAddress: r.ClientIP, ResponseCode: r.Status,
				ResponseSize: r.BytesOut, RequestSize: r.BytesIn, Cache: "none",
				Timestamp: time.Unix(0, int64(ts)).UTC().Format(time.RFC3339Nano),
				APITime:   float64(r.TotalMicros) / 1000, ServiceTime: float64(r.BackendMicros) / 1000, RequestID: requestID(k)}
			if r.API == "" {
				row.APIID = ""
			} else if r.Operation != "" {
				row.OperationID = "/apis/" + r.API + "/operations/" + r.Operation
			}
			if r.BackendStatus != 0 {
				row.BackendResponseCode = strconv.Itoa(r.BackendStatus)
			}
			if r.Cache != "" {
				row.Cache = r.Cache
			}
			if r.GRPCStatus != nil {
				code := *r.GRPCStatus
				row.GRPCStatus = &code
			}
			out = append(out, row)
		}
		return true
	})
	if err != nil {
		return nil, s.unavailable(err)
	}
	return out, nil
}

// requestID renders a telemetry key (see telemetryKey) as gateway/stream/seq.
func requestID(k []byte) string {
	if len(k) < 8+2+8 {
		return ""
	}
	mid := k[8 : len(k)-8]
	gw, stream, _ := bytes.Cut(mid, []byte{0})
	stream = bytes.TrimSuffix(stream, []byte{0})
	return string(gw) + "/" + string(stream) + "/" + strconv.FormatUint(binary.BigEndian.Uint64(k[len(k)-8:]), 10)
}

// serveRequestReport: GET /reports/byRequest?$filter=timestamp ge … and
// timestamp le …&$top=N&$skip=N.
func (h *Handler) serveRequestReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, err := parseFilter(q.Get("$filter"))
	if err != nil {
		writeError(w, err)
		return
	}
	var n [2]int
	for i, name := range []string{"$skip", "$top"} {
		if s := q.Get(name); s != "" {
			if n[i], err = strconv.Atoi(s); err != nil || n[i] < 0 {
				writeError(w, invalidField(name, "%q is not a whole number ≥ 0", s))
				return
			}
		}
	}
	rows, err := h.s.RequestReport(from, to, n[0], n[1])
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, collection{Value: rows})
}
