package policy

import "strings"

// Policies of APIM's policy reference that this gateway does not run. Every one
// of them is a compile error that says why; the Azure-only ones name the Azure
// service they need and what to use instead. An unsupported element is also
// searched for nested policies, so that a document reports every unsupported
// policy it holds, not just the outermost.

// azureOnly maps an APIM policy that needs an Azure service to the message of
// its compile error.
var azureOnly = map[string]string{
	"log-to-eventhub":                    "needs Azure Event Hubs; use send-one-way-request to an HTTP collector, or trace",
	"get-authorization-context":          "needs the Azure API Management credential manager; use send-request to your OAuth token endpoint and cache-store-value",
	"azure-openai-token-limit":           "needs Azure OpenAI token accounting; use rate-limit-by-key or quota-by-key",
	"azure-openai-emit-token-metric":     "needs Azure OpenAI token accounting and Azure Monitor; use emit-metric",
	"azure-openai-semantic-cache-lookup": "needs Azure OpenAI embeddings and Azure Cache for Redis Enterprise; use cache-lookup-value",
	"azure-openai-semantic-cache-store":  "needs Azure OpenAI embeddings and Azure Cache for Redis Enterprise; use cache-store-value",
	"llm-token-limit":                    "needs Azure AI model-inference token accounting; use rate-limit-by-key or quota-by-key",
	"llm-emit-token-metric":              "needs Azure AI model-inference token accounting and Azure Monitor; use emit-metric",
	"llm-semantic-cache-lookup":          "needs Azure AI embeddings and Azure Cache for Redis Enterprise; use cache-lookup-value",
	"llm-semantic-cache-store":           "needs Azure AI embeddings and Azure Cache for Redis Enterprise; use cache-store-value",
	"llm-content-safety":                 "needs Azure AI Content Safety; use send-request to your own moderation service",
	"send-service-bus-message":           "needs Azure Service Bus; use send-one-way-request to an HTTP endpoint",
	"sql-data-source":                    "needs Azure SQL (a GraphQL resolver); use send-request to an HTTP service",
	"cosmos-db-data-source":              "needs Azure Cosmos DB (a GraphQL resolver); use send-request to the Cosmos DB REST API",
	"publish-to-dapr":                    "needs a Dapr sidecar of Azure's self-hosted gateway; use send-one-way-request to the Dapr HTTP API",
	"invoke-dapr-binding":                "needs a Dapr sidecar of Azure's self-hosted gateway; use send-request to the Dapr HTTP API",
}

// notImplemented maps an APIM policy that needs no Azure service but that this
// gateway does not implement (yet) to the message of its compile error.
var notImplemented = map[string]string{
	"set-graphql-resolver":        "GraphQL resolvers are not supported",
	"http-data-source":            "GraphQL resolvers are not supported",
	"publish-event":               "GraphQL subscriptions are not supported",
	"validate-graphql-request":    "GraphQL APIs are not supported",
	"validate-odata-request":      "OData APIs are not supported",
	"validate-client-certificate": "client certificates are not passed to policies",
	"proxy":                       "forwarding through an HTTP proxy is not supported",
	"xsl-transform":               "XSLT is not supported",
	"set-backend-service-dapr":    "Dapr is not supported",
	"jsonp":                       "JSONP is not supported",
	"redirect-content-urls":       "redirect-content-urls is not supported",
	"set-backend-service-graphql": "GraphQL is not supported",
}

// unsupportedPolicy reports policy element n, which is not in the registry,
// and every unsupported policy nested in it.
func (b *builder) unsupportedPolicy(n *Node) {
	switch why, ok := azureOnly[n.Name]; {
	case ok:
		b.errorf(n, ErrUnsupported, "policy <%s> is Azure-only: it %s", n.Name, why)
	case strings.HasPrefix(n.Name, "azure-openai-") || strings.HasPrefix(n.Name, "llm-"):
		b.errorf(n, ErrUnsupported, "policy <%s> is Azure-only: it needs Azure OpenAI / Azure AI services; use send-request, rate-limit-by-key or emit-metric", n.Name)
	default:
		if why, ok := notImplemented[n.Name]; ok {
			b.errorf(n, ErrUnsupported, "policy <%s> is not supported by this gateway (%s)", n.Name, why)
		} else {
			b.errorf(n, ErrUnsupported, "policy <%s> is not supported by this gateway", n.Name)
		}
	}
	b.nestedUnsupported(n)
}

// nestedUnsupported reports the unsupported policies below n (whose own
// children are not compiled, because n is not).
func (b *builder) nestedUnsupported(n *Node) {
	for _, c := range n.Children {
		if isAPIMPolicyName(c.Name) && registry[c.Name] == nil {
			b.unsupportedPolicy(c)
			continue
		}
		b.nestedUnsupported(c)
	}
}

func isAPIMPolicyName(name string) bool {
	if _, ok := azureOnly[name]; ok {
		return true
	}
	if _, ok := notImplemented[name]; ok {
		return true
	}
	return strings.HasPrefix(name, "azure-openai-") || strings.HasPrefix(name, "llm-")
}
