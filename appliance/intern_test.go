package appliance

import (
	"testing"
	"unsafe"

	"github.com/apimgw/apimgw/wire"
)

// TestInternSnapshot: equal policy documents, methods and service URLs end
// up sharing one string; no value changes (the content digest is the same).
func TestInternSnapshot(t *testing.T) {
	pol := func() string { return string([]byte("<policies/>")) } // a fresh copy each call
	snap := &wire.Snapshot{Policy: pol()}
	for a := 0; a < 3; a++ {
		api := wire.API{ID: "a", Policy: pol(), ServiceURL: string([]byte("http://b"))}
		for o := 0; o < 3; o++ {
			api.Operations = append(api.Operations, wire.Operation{ID: "o", Method: string([]byte("GET")), Policy: pol()})
		}
		api.Operations = append(api.Operations, wire.Operation{ID: "x", Method: "POST", Policy: "<policies><inbound/></policies>"},
			wire.Operation{ID: "y", Method: "PUT"})
		snap.APIs = append(snap.APIs, api)
	}
	d0, err := snap.ContentDigest()
	if err != nil {
		t.Fatal(err)
	}
	InternSnapshot(snap)
	if d1, _ := snap.ContentDigest(); d1 != d0 {
		t.Fatal("content changed")
	}
	same := func(what, a, b string) {
		if a != b || unsafe.StringData(a) != unsafe.StringData(b) {
			t.Errorf("%s: %q and %q do not share one string", what, a, b)
		}
	}
	for i := range snap.APIs {
		a := &snap.APIs[i]
		same("api policy", a.Policy, snap.Policy)
		same("service URL", a.ServiceURL, snap.APIs[0].ServiceURL)
		for j := 0; j < 3; j++ {
			same("operation policy", a.Operations[j].Policy, snap.Policy)
			same("method", a.Operations[j].Method, snap.APIs[0].Operations[0].Method)
		}
		if a.Operations[3].Policy != "<policies><inbound/></policies>" || a.Operations[3].Method != "POST" {
			t.Errorf("api %d: distinct values changed: %+v", i, a.Operations[3])
		}
		// Appended one by one, 5 operations sat in room for 8; now their
		// array is about their size (a size class may round it up).
		if c := cap(a.Operations); c > 5 {
			t.Errorf("api %d: %d operations in an array for %d", i, len(a.Operations), c)
		}
	}
	if c := cap(snap.APIs); c > 3 {
		t.Errorf("%d APIs in an array for %d", len(snap.APIs), c)
	}
}
