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
    <http-data-source><http-request><send-service-bus-message queue-name="q"/></http-request></http-data-source>
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
		{"send-service-bus-message", "Azure-only: it needs Azure Service Bus"},
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

// TestUnsupportedNestedEverywhere: an unsupported policy is reported
// wherever it is nested — in every policy that holds policies or children —
// together with its unsupported siblings.
func TestUnsupportedNestedEverywhere(t *testing.T) {
	const two = `<log-to-eventhub logger-id="l">x</log-to-eventhub><xsl-transform/>`
	for _, c := range []struct{ name, doc string }{
		{"when", `<choose><when condition="@(true)">` + two + `</when></choose>`},
		{"otherwise", `<choose><when condition="@(true)"/><otherwise>` + two + `</otherwise></choose>`},
		{"nested choose", `<choose><when condition="@(true)"><choose><when condition="@(false)">` + two + `</when></choose></when></choose>`},
		{"retry", `<retry condition="@(false)" count="1" interval="0">` + two + `</retry>`},
		{"wait", `<wait>` + two + `</wait>`},
		{"limit-concurrency", `<limit-concurrency key="k" max-count="1">` + two + `</limit-concurrency>`},
		{"return-response", `<return-response>` + two + `</return-response>`},
		{"send-request", `<send-request response-variable-name="v"><set-url>http://a/</set-url>` + two + `</send-request>`},
		{"send-one-way-request", `<send-one-way-request><set-url>http://a/</set-url>` + two + `</send-one-way-request>`},
		{"unsupported parent", `<set-graphql-resolver>` + two + `</set-graphql-resolver>`},
	} {
		err := Check(Options{Offline: true}, "d.xml", []byte("<policies><inbound>"+c.doc+"</inbound></policies>"))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, want := range []string{"<log-to-eventhub> is Azure-only", "<xsl-transform> is not supported"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v\nwant %q", c.name, err, want)
			}
		}
	}
}
