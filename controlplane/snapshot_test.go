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
