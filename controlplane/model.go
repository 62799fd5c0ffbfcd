package controlplane

import (
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/apimgw/apimgw/wire"
)

// Stored resource types. Their JSON is both what is kept in bbolt and the
// "properties" object of the ARM representation (minus what render hides,
// such as subscription keys and secret values). Values are immutable once in a
// model: a write replaces the pointer, never the fields, so models can share them.

// KeyNames is subscriptionKeyParameterNames.
type KeyNames struct {
	Header string `json:"header"`
	Query  string `json:"query"`
}

// API is /apis/{apiId}.
type API struct {
	DisplayName                   string    `json:"displayName"`
	Description                   string    `json:"description,omitempty"`
	Path                          string    `json:"path"`
	ServiceURL                    string    `json:"serviceUrl,omitempty"`
	Protocols                     []string  `json:"protocols"`
	SubscriptionRequired          bool      `json:"subscriptionRequired"`
	SubscriptionKeyParameterNames *KeyNames `json:"subscriptionKeyParameterNames,omitempty"`
	APIVersion                    string    `json:"apiVersion,omitempty"`
	APIRevision                   string    `json:"apiRevision,omitempty"`
	IsCurrent                     bool      `json:"isCurrent"`
	Type                          string    `json:"type,omitempty"`
	// Format and Value are ARM's inline import; refused on write (see apimctl import).
	Format string `json:"format,omitempty"`
	Value  string `json:"value,omitempty"`
}

// TemplateParameter is one entry of an operation's templateParameters.
type TemplateParameter struct {
	Name         string   `json:"name"`
	Type         string   `json:"type,omitempty"`
	Required     bool     `json:"required"`
	Description  string   `json:"description,omitempty"`
	DefaultValue string   `json:"defaultValue,omitempty"`
	Values       []string `json:"values,omitempty"`
}

// Operation is /apis/{apiId}/operations/{operationId}.
type Operation struct {
	DisplayName        string              `json:"displayName"`
	Method             string              `json:"method"`
	URLTemplate        string              `json:"urlTemplate"`
	TemplateParameters []TemplateParameter `json:"templateParameters"`
	Description        string              `json:"description,omitempty"`
	Responses          []OperationResponse `json:"responses,omitempty"` // responses.go
	Request            *OperationRequest   `json:"request,omitempty"`   // responses.go
}

// Policy is a policies/policy resource at any scope, or a policy fragment's body.
type Policy struct {
	Format string `json:"format"`
	Value  string `json:"value"`
}

// Fragment is /policyFragments/{id}.
type Fragment struct {
	Description string `json:"description,omitempty"`
	Format      string `json:"format"`
	Value       string `json:"value"`
}

// Product is /products/{productId}.
type Product struct {
	DisplayName          string `json:"displayName"`
	Description          string `json:"description,omitempty"`
	Terms                string `json:"terms,omitempty"`
	SubscriptionRequired bool   `json:"subscriptionRequired"`
	ApprovalRequired     bool   `json:"approvalRequired,omitempty"`
	SubscriptionsLimit   *int   `json:"subscriptionsLimit,omitempty"`
	State                string `json:"state"`
}

// Subscription is /subscriptions/{sid}. Keys are stored (listSecrets returns
// them) but never rendered by GET.
type Subscription struct {
	DisplayName  string    `json:"displayName"`
	Scope        string    `json:"scope"`
	State        string    `json:"state"`
	OwnerID      string    `json:"ownerId,omitempty"`
	AllowTracing bool      `json:"allowTracing"`
	PrimaryKey   string    `json:"primaryKey,omitempty"`
	SecondaryKey string    `json:"secondaryKey,omitempty"`
	CreatedDate  time.Time `json:"createdDate"`
}

// NamedValue is /namedValues/{id}. A secret value is never rendered by GET.
type NamedValue struct {
	DisplayName string   `json:"displayName"`
	Value       string   `json:"value,omitempty"`
	Secret      bool     `json:"secret"`
	Tags        []string `json:"tags,omitempty"`
	// KeyVault is refused when present (no Key Vault here); kept raw only
	// to name it in the 400.
	KeyVault any `json:"keyVault,omitempty"`
}

// Backend is /backends/{id}: APIM's backend entity (backends.go checks it).
type Backend struct {
	URL         string `json:"url,omitempty"`
	Protocol    string `json:"protocol"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	ResourceID  string `json:"resourceId,omitempty"` // informational (the Azure resource behind it)
	// Type is "Single" (default) or "Pool".
	Type           string                 `json:"type,omitempty"`
	TLS            *wire.BackendTLS       `json:"tls,omitempty"`
	Credentials    *BackendCredentials    `json:"credentials,omitempty"`
	CircuitBreaker *BackendCircuitBreaker `json:"circuitBreaker,omitempty"`
	Pool           *wire.BackendPool      `json:"pool,omitempty"`
	// HTTPVersion is ours, not ARM's (wire.Backend.HTTPVersion): "1.1"
	// (default), "2" or "auto".
	HTTPVersion string `json:"httpVersion,omitempty"`
	// Proxy: a forward proxy for requests to this backend (its password
	// is never shown by GET).
	Proxy *wire.BackendProxy `json:"proxy,omitempty"`
	// Refused when present: properties (Service Fabric). Kept raw only to
	// name it in the 400.
	Properties any `json:"properties,omitempty"`
}

// LocationData is a gateway's locationData.
type LocationData struct {
	Name            string `json:"name"`
	City            string `json:"city,omitempty"`
	District        string `json:"district,omitempty"`
	CountryOrRegion string `json:"countryOrRegion,omitempty"`
}

// Gateway is /gateways/{gatewayId}; keys sign its tokens (listKeys).
type Gateway struct {
	LocationData LocationData `json:"locationData"`
	Description  string       `json:"description,omitempty"`
	PrimaryKey   string       `json:"primaryKey,omitempty"`
	SecondaryKey string       `json:"secondaryKey,omitempty"`
}

// Link is a product–API or gateway–API association.
type Link struct {
	Created time.Time `json:"created"`
}

// entry is one stored resource: its properties and its ETag.
type entry[T any] struct {
	ETag  string `json:"etag"`
	Props *T     `json:"properties"`
}

// table is one kind of resource keyed by id (or "parent/child" for nested
// ones: ids never contain "/"). Copy-on-write: clone copies the map, entries
// are shared and never mutated.
type table[T any] map[string]entry[T]

func (t table[T]) keysWithPrefix(prefix string) []string {
	var out []string
	for k := range t {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (t table[T]) sortedKeys() []string {
	out := make([]string, 0, len(t))
	for k := range t {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// model is the whole configuration. The Store holds one behind a mutex and
// replaces it whole on every committed write.
type model struct {
	apis        table[API]
	ops         table[Operation] // "api/op"
	policies    table[Policy]    // policyKey
	products    table[Product]
	productAPIs table[Link] // "product/api"
	subs        table[Subscription]
	namedValues table[NamedValue]
	backends    table[Backend]
	fragments   table[Fragment]
	gateways    table[Gateway]
	gatewayAPIs table[Link] // "gateway/api"
	// certificates and the gateways' trusted CAs ("gateway/certificate").
	certificates table[Certificate]
	gatewayCAs   table[CertificateAuthority]
	// caches: the external caches (caches.go).
	caches     table[Cache]
	apiSchemas table[APISchema]    // "api/schema" (schemas.go)
	schemas    table[GlobalSchema] // service-level (global_schemas.go)
}

func newModel() *model {
	return &model{
		apis: table[API]{}, ops: table[Operation]{}, policies: table[Policy]{}, products: table[Product]{},
		productAPIs: table[Link]{}, subs: table[Subscription]{}, namedValues: table[NamedValue]{},
		backends: table[Backend]{}, fragments: table[Fragment]{}, gateways: table[Gateway]{}, gatewayAPIs: table[Link]{},
		certificates: table[Certificate]{}, gatewayCAs: table[CertificateAuthority]{},
		caches:     table[Cache]{},
		apiSchemas: table[APISchema]{}, schemas: table[GlobalSchema]{},
	}
}

func (m *model) clone() *model {
	return &model{
		apis: maps.Clone(m.apis), ops: maps.Clone(m.ops), policies: maps.Clone(m.policies),
		products: maps.Clone(m.products), productAPIs: maps.Clone(m.productAPIs), subs: maps.Clone(m.subs),
		namedValues: maps.Clone(m.namedValues), backends: maps.Clone(m.backends), fragments: maps.Clone(m.fragments),
		gateways: maps.Clone(m.gateways), gatewayAPIs: maps.Clone(m.gatewayAPIs),
		certificates: maps.Clone(m.certificates), gatewayCAs: maps.Clone(m.gatewayCAs),
		caches:     maps.Clone(m.caches),
		apiSchemas: maps.Clone(m.apiSchemas), schemas: maps.Clone(m.schemas),
	}
}

// Policy scope keys in the policies table.
const policyGlobal = "global"

func policyKeyProduct(p string) string { return "product/" + p }
func policyKeyAPI(a string) string     { return "api/" + a }
func policyKeyOp(a, o string) string   { return "op/" + a + "/" + o }
func join(parent, child string) string { return parent + "/" + child }
