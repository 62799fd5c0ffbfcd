package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestUnsupportedNested: every unsupported policy of a document is reported,
// also those nested in an unsupported one, and Azure-only policies name the
// Azure service they need and an alternative.
func TestUnsupportedNested(t *testing.T) {
	doc := `<policies><inbound>
  <log-to-eventhub logger-id="x">@("a")</log-to-eventhub>
  <set-graphql-resolver parent-type="Q" field="f">
    <http-data-source><http-request><authentication-managed-identity resource="r"/></http-request></http-data-source>
  </set-graphql-resolver>
  <azure-openai-future-thing/>
  <llm-token-limit tokens-per-minute="5" counter-key="k"/>
  <choose><when condition="@(true)"><get-authorization-context provider-id="p" authorization-id="a"/></when></choose>
  <made-up-policy/>
</inbound></policies>`
	err := Check(Options{Offline: true}, "d.xml", []byte(doc))
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("want an ErrorList, got %v", err)
	}
	want := []struct{ elem, text string }{
		{"log-to-eventhub", "Azure-only: it needs Azure Event Hubs; use send-one-way-request"},
		{"set-graphql-resolver", "GraphQL resolvers are not supported"},
		{"http-data-source", "GraphQL resolvers are not supported"},
		{"authentication-managed-identity", "Azure-only: it needs an Azure managed identity"},
		{"azure-openai-future-thing", "Azure-only"},
		{"llm-token-limit", "Azure-only"},
		{"get-authorization-context", "credential manager"},
		{"made-up-policy", "is not supported by this gateway"},
	}
	if len(l) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(l), len(want), err)
	}
	for i, w := range want {
		if l[i].Element != w.elem || !strings.Contains(l[i].Msg, w.text) || !errors.Is(l[i], ErrUnsupported) {
			t.Errorf("error %d = %v; want <%s> %q", i, l[i], w.elem, w.text)
		}
	}
}
