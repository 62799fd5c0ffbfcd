package controlplane

import (
	"bytes"
	"testing"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// TestEncodeSealed: the one-pass encoding equals wire's Seal + Encode.
func TestEncodeSealed(t *testing.T) {
	s := &wire.Snapshot{ProtocolVersion: 1, Gateway: "gw1", Version: 3, GeneratedAt: time.Unix(1, 0).UTC(),
		Policy: `<policies>"checksum":""</policies>`, APIs: []wire.API{}, Products: []wire.Product{}, Subscriptions: []wire.Subscription{},
		PolicyFragments: []wire.PolicyFragment{}, NamedValues: []wire.NamedValue{}, Backends: []wire.Backend{}}
	c := *s
	got, err := encodeSealed(&c)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || c.Checksum != s.Checksum {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if _, err := wire.Decode(got); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotIdentityAcrossRestart: a control plane restarted with the same
// resources (an hour later on its clock) serves the very same snapshot: same
// bytes, version, generatedAt, checksum and ETag, and a gateway's
// If-None-Match with the old ETag gets 304. A real change after the restart
// still gets a new version, generation time and ETag.
func TestSnapshotIdentityAcrossRestart(t *testing.T) {
	ts := newTestServer(t)
	ts.seed()
	tok := ts.token("gw1", 24*time.Hour)
	before := ts.gwGet(tok, wire.PathConfig)
	if before.status != 200 {
		t.Fatalf("config: %d %s", before.status, before.body)
	}
	etag := before.header.Get("ETag")
	ts.clock.Advance(time.Hour)
	ts.restart()
	after := ts.gwGet(tok, wire.PathConfig)
	if after.status != 200 || after.header.Get("ETag") != etag {
		t.Fatalf("after restart: %d, ETag %q, want %q", after.status, after.header.Get("ETag"), etag)
	}
	if !bytes.Equal(before.body, after.body) {
		t.Fatalf("snapshot changed across a restart with the same resources:\n%s\n---\n%s", before.body, after.body)
	}
	if r := ts.gwGet(tok, wire.PathConfig, "If-None-Match", etag); r.status != 304 {
		t.Fatalf("If-None-Match with the pre-restart ETag: %d, want 304", r.status)
	}
	s1 := decodeSnap(t, before.body)
	// A second restart, too (the first one may have filled in what an older
	// record lacked).
	ts.restart()
	if r := ts.gwGet(tok, wire.PathConfig); r.header.Get("ETag") != etag || !bytes.Equal(r.body, before.body) {
		t.Fatalf("second restart changed the snapshot: ETag %q", r.header.Get("ETag"))
	}
	// A real change: new version, new generation time, new ETag.
	ts.must(201, "PUT", "/apis/echo/policies/policy", props(map[string]any{"value": "<policies/>"}))
	changed := ts.gwGet(tok, wire.PathConfig)
	s2 := decodeSnap(t, changed.body)
	if changed.header.Get("ETag") == etag || s2.Version != s1.Version+1 || !s2.GeneratedAt.After(s1.GeneratedAt) || s2.Checksum == s1.Checksum {
		t.Fatalf("a change after the restart: ETag %q (was %q), version %d→%d, generatedAt %v→%v",
			changed.header.Get("ETag"), etag, s1.Version, s2.Version, s1.GeneratedAt, s2.GeneratedAt)
	}
}
