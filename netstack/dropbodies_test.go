package netstack

import "testing"

// TestDropBodies: when an exchange ends its body buffers over 64 KiB are let
// go (an idle keep-alive connection holds no body memory) and small ones are
// kept, emptied, for reuse; a request body that aliased the read buffer is
// not kept as the next exchange's buffer.
func TestDropBodies(t *testing.T) {
	big, small := make([]byte, 100<<10), make([]byte, 10, 1<<10)
	x := &Exchange{inBody: big, upBody: small, respBody: big, reqBody: big, reqBodyAliased: true}
	x.dropBodies()
	if x.inBody != nil || x.respBody != nil || x.reqBody != nil || x.reqBodyAliased {
		t.Errorf("large buffers kept: in %d, resp %d, req %d (aliased %v)", cap(x.inBody), cap(x.respBody), cap(x.reqBody), x.reqBodyAliased)
	}
	if len(x.upBody) != 0 || cap(x.upBody) != 1<<10 {
		t.Errorf("small buffer: len %d cap %d, want emptied and kept", len(x.upBody), cap(x.upBody))
	}
	x = &Exchange{reqBody: small}
	x.dropBodies()
	if len(x.reqBody) != 0 || cap(x.reqBody) != 1<<10 {
		t.Errorf("small request body buffer: len %d cap %d", len(x.reqBody), cap(x.reqBody))
	}
}
