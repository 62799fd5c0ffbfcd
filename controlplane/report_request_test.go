package controlplane

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// TestRequestReport: one row per stored record, a batch sent twice stored
// once, the record's fields and identity, $top and $skip, bad paging refused.
func TestRequestReport(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), DataFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := benchBatch("s1", 0, 3)
	b.Records[1].ClientIP, b.Records[1].Status, b.Records[1].BackendStatus = "10.9.9.9", 404, 0
	for range 2 { // the second time: all duplicates
		if _, err := st.Ingest("gw1", RawBatchOf(b)); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := st.RequestReport(time.Time{}, time.Time{}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3: %+v", len(rows), rows)
	}
	r := rows[1]
	want := RequestReportRecord{APIID: "/apis/echo", OperationID: "/apis/echo/operations/get", ProductID: "/products/p1",
		SubscriptionID: "/subscriptions/s1", GatewayID: "/gateways/gw1", Method: "GET", URL: "/items", IPAddress: "10.9.9.9",
		ResponseCode: 404, ResponseSize: 512, RequestSize: 120, Timestamp: r.Timestamp, Cache: "none", APITime: 1.2,
		ServiceTime: 0.9, RequestID: "gw1/s1/2"}
	if r != want {
		t.Fatalf("row\n%+v\nwant\n%+v", r, want)
	}
	if rows[0].BackendResponseCode != "200" || rows[0].RequestID != "gw1/s1/1" || rows[2].RequestID != "gw1/s1/3" {
		t.Fatalf("rows 0, 2: %+v %+v", rows[0], rows[2])
	}

	srv := httptest.NewServer(NewHandler(st, HandlerOptions{AdminToken: testAdminToken, Logger: discardLogger()}))
	defer srv.Close()
	get := func(q string) (int, []RequestReportRecord) {
		req, _ := http.NewRequest("GET", srv.URL+"/reports/byRequest"+q, nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Value []RequestReportRecord }
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v.Value
	}
	if code, v := get("?$skip=1&$top=1"); code != 200 || len(v) != 1 || v[0].RequestID != "gw1/s1/2" {
		t.Fatalf("$skip=1&$top=1: %d %+v", code, v)
	}
	if code, _ := get("?$top=-1"); code != 400 {
		t.Fatalf("$top=-1: %d, want 400", code)
	}
}

// TestRequestReportGRPCStatus: a gRPC call's status reaches /reports/byRequest
// as grpcStatus (OK as 0, a gateway answer beside its HTTP status); other
// rows have none, in the JSON too. Batches sent as JSON and as binary alike.
func TestRequestReportGRPCStatus(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), DataFile), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := benchBatch("s1", 0, 3)
	ok, unauth := 0, 16
	b.Records[0].GRPCStatus = &ok
	b.Records[1].Status, b.Records[1].GRPCStatus = 401, &unauth
	data, _ := json.Marshal(b)
	var fromJSON wire.TelemetryBatch
	if err := json.Unmarshal(data, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest("gw1", RawBatchOf(&fromJSON)); err != nil {
		t.Fatal(err)
	}
	rows, err := st.RequestReport(time.Time{}, time.Time{}, 0, 0)
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	if g := rows[0].GRPCStatus; g == nil || *g != 0 {
		t.Errorf("row 0: grpcStatus %v, want 0", g)
	}
	if g := rows[1].GRPCStatus; g == nil || *g != 16 || rows[1].ResponseCode != 401 {
		t.Errorf("row 1: grpcStatus %v responseCode %d, want 16 and 401", g, rows[1].ResponseCode)
	}
	if rows[2].GRPCStatus != nil {
		t.Errorf("row 2: grpcStatus %v, want none", *rows[2].GRPCStatus)
	}
	for i, want := range []string{`"grpcStatus":0`, `"grpcStatus":16`, ""} {
		j, _ := json.Marshal(rows[i])
		if want == "" && strings.Contains(string(j), "grpcStatus") || want != "" && !strings.Contains(string(j), want) {
			t.Errorf("row %d JSON %s, want %q", i, j, want)
		}
	}
}
