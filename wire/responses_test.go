package wire

import (
	"errors"
	"strings"
	"testing"
)

// TestOperationResponsesValidate: documented responses need an HTTP status
// code and a content type per representation; the error names the field.
func TestOperationResponsesValidate(t *testing.T) {
	snap := func(rs []OperationResponse) *Snapshot {
		return &Snapshot{ProtocolVersion: ProtocolVersion, Version: 1, APIs: []API{{ID: "a", Path: "a", Protocols: []string{"http"},
			Operations: []Operation{{ID: "o", Method: "GET", URLTemplate: "/", Responses: rs}}}}}
	}
	ok := []OperationResponse{{StatusCode: 200, Representations: []Representation{{ContentType: "application/json", Example: "{}", ExampleName: "default"}}}, {StatusCode: 204}}
	if err := snap(ok).Validate(); err != nil {
		t.Fatalf("valid responses refused: %v", err)
	}
	for _, tc := range []struct {
		rs   []OperationResponse
		want string
	}{
		{[]OperationResponse{{StatusCode: 0}}, "apis[a].operations[o].responses[0].statusCode: 0 is not an HTTP status code"},
		{[]OperationResponse{{StatusCode: 200, Representations: []Representation{{ContentType: " "}}}}, "apis[a].operations[o].responses[0].representations[0].contentType: is required"},
	} {
		err := snap(tc.rs).Validate()
		if !errors.Is(err, ErrInvalidSnapshot) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.rs, err, tc.want)
		}
	}
}
