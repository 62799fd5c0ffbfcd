package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleSnapshot() *Snapshot {
	return &Snapshot{
		ProtocolVersion: ProtocolVersion,
		Gateway:         "gw1",
		Version:         7,
		GeneratedAt:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Policy:          "<policies><inbound/></policies>",
		APIs: []API{{
			ID: "orders", Path: "orders", ServiceURL: "http://127.0.0.1:9000",
			Protocols: []string{"http", "https"}, SubscriptionRequired: true,
			SubscriptionKeyParameterNames: KeyParameterNames{Header: DefaultKeyHeader, Query: DefaultKeyQuery},
			Operations: []Operation{
				{ID: "get", Method: "GET", URLTemplate: "/orders/{id}", TemplateParameters: []TemplateParameter{{Name: "id", Required: true}}},
				{ID: "list", Method: "GET", URLTemplate: "/orders"},
			},
		}},
		Products:        []Product{{ID: "unlimited", State: "published", SubscriptionRequired: true, APIs: []string{"orders"}}},
		Subscriptions:   []Subscription{{ID: "s1", Scope: "/products/unlimited", State: SubscriptionActive, PrimaryKeySHA256: KeyDigest("k1"), SecondaryKeySHA256: KeyDigest("k2")}},
		PolicyFragments: []PolicyFragment{{ID: "f1", Value: "<fragment/>"}},
		NamedValues:     []NamedValue{{ID: "nv1", DisplayName: "env", Value: "prod"}},
		Backends:        []Backend{{ID: "b1", URL: "http://127.0.0.1:9001", Protocol: "http"}},
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := sampleSnapshot()
	data, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Checksum, "sha256:") || len(s.Checksum) != 71 {
		t.Fatalf("checksum %q", s.Checksum)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Checksum != s.Checksum || got.APIs[0].Operations[0].URLTemplate != "/orders/{id}" {
		t.Fatalf("round trip changed the snapshot: %+v", got)
	}
	// Re-encoding the decoded value gives the same bytes: the checksum is stable.
	again, _ := got.Encode()
	if string(again) != string(data) {
		t.Fatalf("re-encoding differs:\n%s\n%s", data, again)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := sampleSnapshot()
	data, _ := good.Encode()
	cases := []struct {
		name string
		data string
		want error
		msg  string
	}{
		{"tampered", strings.Replace(string(data), `"path":"orders"`, `"path":"orderz"`, 1), ErrChecksum, "checksum mismatch"},
		{"version", strings.Replace(string(data), `"protocolVersion":1`, `"protocolVersion":2`, 1), ErrProtocolVersion, "has 2"},
		{"no version", `{"apis":[]}`, ErrProtocolVersion, "missing"},
		{"not json", `{"protocolVersion":1,`, ErrInvalidSnapshot, ""},
		{"unknown field", strings.Replace(string(data), `"gateway":"gw1"`, `"gateway":"gw1","extra":1`, 1), ErrInvalidSnapshot, "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.data))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, c.want, c.msg)
			}
		})
	}
}

func TestDecodeLocalFillsChecksum(t *testing.T) {
	s := sampleSnapshot()
	b, _ := json.Marshal(s) // checksum ""
	got, err := DecodeLocal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.VerifyChecksum() != nil || got.Checksum == "" {
		t.Fatalf("checksum not filled: %q", got.Checksum)
	}
	// A present but wrong checksum is still refused.
	s.Checksum = "sha256:00"
	b, _ = json.Marshal(s)
	if _, err := DecodeLocal(b); !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v", err)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Snapshot)
		want   string
	}{
		{"ok", func(*Snapshot) {}, ""},
		{"dup api", func(s *Snapshot) { s.APIs = append(s.APIs, s.APIs[0]) }, "apis[orders]: duplicate API id"},
		{"dup path", func(s *Snapshot) { a := s.APIs[0]; a.ID = "o2"; a.Operations = nil; s.APIs = append(s.APIs, a) }, `apis[o2].path: "orders" is also the path of API "orders"`},
		{"bad method", func(s *Snapshot) { s.APIs[0].Operations[1].Method = "get" }, `apis[orders].operations[list].method: "get"`},
		{"undeclared param", func(s *Snapshot) { s.APIs[0].Operations[1].URLTemplate = "/x/{y}" }, "parameter {y} is not in templateParameters"},
		{"bad template", func(s *Snapshot) { s.APIs[0].Operations[1].URLTemplate = "/x/{y" }, "unclosed {"},
		{"unroutable template", func(s *Snapshot) { s.APIs[0].Operations[1].URLTemplate = "/x/*/y" }, "operations[list].urlTemplate: urltemplate: invalid URL template"},
		{"same shape", func(s *Snapshot) {
			s.APIs[0].Operations[1].URLTemplate = "/Orders/{key}"
			s.APIs[0].Operations[1].TemplateParameters = []TemplateParameter{{Name: "key"}}
		}, `operations[list].urlTemplate: GET "/Orders/{key}" matches the same requests as operation "get"`},
		{"wildcard ok", func(s *Snapshot) { s.APIs[0].Operations[1].URLTemplate = "/*" }, ""},
		{"product api", func(s *Snapshot) { s.Products[0].APIs = []string{"nope"} }, `products[unlimited].apis: API "nope" is not in the snapshot`},
		{"scope product", func(s *Snapshot) { s.Subscriptions[0].Scope = "/products/nope" }, `subscriptions[s1].scope: product "nope"`},
		{"scope api", func(s *Snapshot) { s.Subscriptions[0].Scope = "/apis/nope" }, `API "nope"`},
		{"scope junk", func(s *Snapshot) { s.Subscriptions[0].Scope = "/things" }, "is not /apis"},
		{"digest", func(s *Snapshot) { s.Subscriptions[0].PrimaryKeySHA256 = "k1" }, "primaryKeySha256: not 64 lowercase hex"},
		{"dup key", func(s *Snapshot) {
			s.Subscriptions = append(s.Subscriptions, Subscription{ID: "s2", Scope: "/apis", State: "active", PrimaryKeySHA256: KeyDigest("k1"), SecondaryKeySHA256: KeyDigest("k3")})
		}, `same key as subscription "s1"`},
		{"nv name", func(s *Snapshot) { s.NamedValues = append(s.NamedValues, NamedValue{ID: "nv2", DisplayName: "ENV"}) }, `"ENV" used twice`},
		{"backend url", func(s *Snapshot) { s.Backends[0].URL = "nohost" }, "backends[b1].url"},
		{"bad id", func(s *Snapshot) { s.APIs[0].ID = "a/b" }, `apis[0].id: id "a/b" contains '/'`},
		{"state", func(s *Snapshot) { s.Products[0].State = "on" }, "products[unlimited].state"},
		{"schemas ok", func(s *Snapshot) {
			s.APIs[0].Schemas = []APISchema{{ID: "orders", ContentType: "application/vnd.oai.openapi.components+json", Document: json.RawMessage(`{"components":{}}`)}}
			s.APIs[0].Operations[1].Request = &OperationRequest{Representations: []Representation{{ContentType: "application/json", SchemaID: "orders", TypeName: "Order"}}}
		}, ""},
		{"dup schema", func(s *Snapshot) {
			s.APIs[0].Schemas = []APISchema{{ID: "s", ContentType: "application/json", Document: json.RawMessage(`{}`)}, {ID: "S", ContentType: "application/json", Document: json.RawMessage(`{}`)}}
		}, `apis[orders].schemas[1]: duplicate schema id "S"`},
		{"schema content type", func(s *Snapshot) {
			s.APIs[0].Schemas = []APISchema{{ID: "s", Document: json.RawMessage(`{}`)}}
		}, `apis[orders].schemas[0].contentType: is required`},
		{"request representation", func(s *Snapshot) {
			s.APIs[0].Operations[1].Request = &OperationRequest{Representations: []Representation{{SchemaID: "x"}}}
		}, `operations[list].request.representations[0].contentType: is required`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := sampleSnapshot()
			c.mutate(s)
			err := s.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidSnapshot) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestParseScope(t *testing.T) {
	for in, want := range map[string][2]string{
		"/apis":        {ScopeAll, ""},
		"/apis/":       {ScopeAll, ""},
		"/apis/echo":   {ScopeAPI, "echo"},
		"/products/p1": {ScopeProduct, "p1"},
		"/subscriptions/x/resourceGroups/g/providers/Microsoft.ApiManagement/service/s/products/p1": {ScopeProduct, "p1"},
	} {
		k, id, err := ParseScope(in)
		if err != nil || k != want[0] || id != want[1] {
			t.Errorf("ParseScope(%q) = %q %q %v", in, k, id, err)
		}
	}
	for _, in := range []string{"", "/", "/apis/a/b", "/products/", "/users/1"} {
		if _, _, err := ParseScope(in); err == nil {
			t.Errorf("ParseScope(%q) accepted", in)
		}
	}
}

func TestToken(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	exp := now.Add(24 * time.Hour)
	tok := SignToken("secret-key", "gw1", exp)
	if !strings.HasPrefix(tok, "gw1&202603021200&") {
		t.Fatalf("token %q", tok)
	}
	for _, form := range []string{tok, "GatewayKey " + tok, "  gatewaykey " + tok + "\n"} {
		p, err := ParseToken(form)
		if err != nil {
			t.Fatalf("parse %q: %v", form, err)
		}
		if p.GatewayID != "gw1" || !p.Expiry.Equal(exp) {
			t.Fatalf("parsed %+v", p)
		}
		if err := p.Verify("secret-key", now); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := ParseToken(tok)
	if err := p.Verify("other-key", now); !errors.Is(err, ErrTokenSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	if err := p.Verify("secret-key", exp); !errors.Is(err, ErrTokenExpired) || !strings.Contains(err.Error(), "expired at 2026-03-02T12:00:00Z") {
		t.Fatalf("expired: %v", err)
	}
	if err := p.VerifyAny([]string{"x", "secret-key"}, now); err != nil {
		t.Fatalf("secondary key: %v", err)
	}
	// Tampering with id or expiry breaks the signature.
	parts := strings.Split(tok, "&")
	for _, bad := range []string{"gw2&" + parts[1] + "&" + parts[2], "gw1&202603031200&" + parts[2]} {
		q, err := ParseToken(bad)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Verify("secret-key", now); !errors.Is(err, ErrTokenSignature) {
			t.Fatalf("tampered %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"", "gw1", "gw1&2026&AAAA", "gw1&202603021200&!!!", "gw1&202603021200&" + "QUJD", "&202603021200&" + parts[2], "a&b&c&d"} {
		if _, err := ParseToken(bad); !errors.Is(err, ErrTokenMalformed) {
			t.Errorf("ParseToken(%q) = %v", bad, err)
		}
	}
}

// TestTokenKnownVector pins the signature algorithm: HMAC-SHA512 over
// "gw1\n202603021200" with the key's UTF-8 bytes, base64 standard encoding.
func TestTokenKnownVector(t *testing.T) {
	// Computed independently with: printf 'gw1\n202603021200' | openssl dgst -sha512 -hmac key -binary | base64 -w0
	want := "gw1&202603021200&" + knownSig
	if got := SignToken("key", "gw1", time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestTelemetryValidate(t *testing.T) {
	now := time.Now()
	ok := TelemetryBatch{ProtocolVersion: ProtocolVersion, Gateway: "gw1", Stream: "s", Sequence: 2,
		Records: []TelemetryRecord{{Seq: 1, Time: now, Method: "GET", Status: 200}, {Seq: 2, Time: now, Method: "GET", Status: 404}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*TelemetryBatch){
		"version":             func(b *TelemetryBatch) { b.ProtocolVersion = 9 },
		"stream":              func(b *TelemetryBatch) { b.Stream = "" },
		"seq0":                func(b *TelemetryBatch) { b.Records[0].Seq = 0 },
		"dup":                 func(b *TelemetryBatch) { b.Records[1].Seq = 1 },
		"time":                func(b *TelemetryBatch) { b.Records[0].Time = time.Time{} },
		"status":              func(b *TelemetryBatch) { b.Records[0].Status = 0 },
		"grpcStatus negative": func(b *TelemetryBatch) { c := -1; b.Records[0].GRPCStatus = &c },
		"grpcStatus too big":  func(b *TelemetryBatch) { c := 1000; b.Records[0].GRPCStatus = &c },
	}
	c := 16
	ok.Records[1].GRPCStatus = &c
	if err := ok.Validate(); err != nil {
		t.Fatalf("grpcStatus 16: %v", err)
	}
	for name, mut := range cases {
		b := ok
		b.Records = append([]TelemetryRecord(nil), ok.Records...)
		mut(&b)
		if err := b.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestHeartbeat(t *testing.T) {
	h := Heartbeat{ProtocolVersion: ProtocolVersion, Gateway: "gw1"}
	if err := h.Validate(); err != nil || h.Interval() != DefaultHeartbeatInterval {
		t.Fatal(err, h.Interval())
	}
	h.IntervalSeconds = 5
	if h.Interval() != 5*time.Second {
		t.Fatal(h.Interval())
	}
	h.ProtocolVersion = 0
	if err := h.Validate(); !errors.Is(err, ErrProtocolVersion) {
		t.Fatal(err)
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(SignToken("k", "gw1", time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)))
	f.Add("GatewayKey a&b&c")
	f.Add("&&")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err == nil {
			_ = tok.Verify("k", time.Now())
		}
	})
}

func FuzzDecode(f *testing.F) {
	data, _ := sampleSnapshot().Encode()
	f.Add(data)
	f.Add([]byte(`{"protocolVersion":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err == nil {
			if s.Validate() != nil || s.VerifyChecksum() != nil {
				t.Fatal("Decode accepted an invalid snapshot")
			}
		}
		_, _ = DecodeLocal(b)
	})
}

func FuzzTemplateParams(f *testing.F) {
	for _, s := range []string{"/a/{b}/c", "/{*rest}", "/x?y={y}", "/{", "/}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { _, _ = TemplateParams(s) })
}

const knownSig = "Y9pjB5bYjk4u2+zE1cHWsszhrmSgMt9Wq1xhD/SAK03XfFh+NOl50bYsIJ/VwjxgNg8HSAMdPb02rCPCq+RiAQ=="

// TestContentDigest: the digest ignores when a snapshot was built (and so its
// checksum) but not what it serves, its version or its gateway.
func TestContentDigest(t *testing.T) {
	digest := func(s *Snapshot) string {
		t.Helper()
		if err := s.Seal(); err != nil {
			t.Fatal(err)
		}
		d, err := s.ContentDigest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := sampleSnapshot()
	base := digest(first)
	later := sampleSnapshot()
	later.GeneratedAt = later.GeneratedAt.Add(time.Hour)
	if d := digest(later); d != base {
		t.Fatalf("generatedAt changed the digest: %s vs %s", d, base)
	}
	if later.Checksum == first.Checksum {
		t.Fatal("test is void: the checksum should cover generatedAt")
	}
	for name, change := range map[string]func(*Snapshot){
		"version": func(s *Snapshot) { s.Version++ },
		"gateway": func(s *Snapshot) { s.Gateway += "x" },
		"policy":  func(s *Snapshot) { s.Policy = "<policies/>" },
		"api":     func(s *Snapshot) { s.APIs[0].Path += "x" },
	} {
		s := sampleSnapshot()
		change(s)
		if digest(s) == base {
			t.Errorf("%s: a change of content kept the digest", name)
		}
	}
}
