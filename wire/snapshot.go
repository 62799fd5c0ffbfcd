package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Snapshot is the whole configuration one gateway serves: the APIs assigned to
// it and everything they reference, nothing else. The control plane builds one
// per gateway; the gateway receives it (or reads it from config.local.path in
// standalone mode), checks it with Decode, compiles it and swaps it in whole.
//
// A Snapshot value is plain data: safe to read from many goroutines once
// built, not safe to mutate concurrently. Its JSON encoding (encoding/json over
// these types) is the wire format; Checksum is computed over that encoding
// with Checksum itself empty (see Seal).
type Snapshot struct {
	// ProtocolVersion must equal ProtocolVersion.
	ProtocolVersion int `json:"protocolVersion"`
	// Gateway is the id of the gateway this snapshot was built for ("" for a
	// hand-written standalone snapshot).
	Gateway string `json:"gateway,omitempty"`
	// Version increases by at least one with every change that affects this
	// gateway; it never goes back for a given gateway on a given control plane.
	Version uint64 `json:"version"`
	// GeneratedAt is when the control plane built this version (UTC).
	GeneratedAt time.Time `json:"generatedAt"`
	// Checksum is "sha256:<64 lowercase hex>" over the snapshot's JSON with
	// Checksum "" (see Seal, Verify).
	Checksum string `json:"checksum"`

	// Policy is the global (all APIs) policy document, raw XML; "" means none.
	Policy string `json:"policy,omitempty"`
	// APIs in id order, each with its operations.
	APIs []API `json:"apis"`
	// Products that contain at least one of this snapshot's APIs.
	Products []Product `json:"products"`
	// Subscriptions whose scope is all APIs, or an API or product in this snapshot.
	Subscriptions []Subscription `json:"subscriptions"`
	// PolicyFragments referenced (directly or through other fragments) by the
	// snapshot's policies.
	PolicyFragments []PolicyFragment `json:"policyFragments"`
	// NamedValues referenced as {{name}} by the snapshot's policies and fragments.
	NamedValues []NamedValue `json:"namedValues"`
	// Backends referenced by backend-id in the snapshot's policies (and the
	// members of pools among them).
	Backends []Backend `json:"backends"`
	// Certificates: the gateway's trusted CAs and the client certificates
	// its backends use.
	Certificates []Certificate `json:"certificates,omitempty"`
	// Cache is the external cache of the gateway's location (cache.go); nil:
	// the built-in cache only.
	Cache *ExternalCache `json:"cache,omitempty"`
	// Schemas are the service-level schemas (ARM's /schemas) the snapshot's
	// policies name in validate-content's schema-id, in id order: JSON
	// schemas with content type application/json and document
	// {"value":"…"}, XML ones as application/vnd.ms-azure-apim.xsd+xml.
	// Added in protocol version 1 without a bump, like API.Schemas.
	Schemas []APISchema `json:"schemas,omitempty"`
}

// API is one API as the gateway serves it.
type API struct {
	// ID is the ARM resource name (the {apiId} of /apis/{apiId}).
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
	// Path is the URL suffix the API is served under, without leading or
	// trailing slash ("" means the root).
	Path string `json:"path"`
	// ServiceURL is the backend base URL ("" when policies set the backend).
	ServiceURL string `json:"serviceUrl,omitempty"`
	// Protocols accepted: "http" and/or "https".
	Protocols []string `json:"protocols"`
	// SubscriptionRequired: calls need a valid subscription key.
	SubscriptionRequired bool `json:"subscriptionRequired"`
	// SubscriptionKeyParameterNames names the header and query parameter that
	// carry the key (APIM's defaults when empty: Ocp-Apim-Subscription-Key and
	// subscription-key).
	SubscriptionKeyParameterNames KeyParameterNames `json:"subscriptionKeyParameterNames"`
	// Policy is the API-scope policy document, raw XML; "" means none.
	Policy string `json:"policy,omitempty"`
	// Operations of the API in id order.
	Operations []Operation `json:"operations"`
	// Schemas are the API's schemas (ARM's apis/{api}/schemas), in id
	// order: what validate-content checks bodies against. Added in protocol
	// version 1 without a bump: a gateway that does not know the field
	// ignores it.
	Schemas []APISchema `json:"schemas,omitempty"`
}

// APISchema is one schema of an API, as ARM's SchemaContract gives it:
// ContentType (e.g. application/vnd.oai.openapi.components+json) says
// what Document holds ({"components":…}, {"definitions":…} or
// {"value":"…"}).
type APISchema struct {
	ID          string          `json:"id"`
	ContentType string          `json:"contentType"`
	Document    json.RawMessage `json:"document"`
}

// Default subscription key parameter names (APIM's).
const (
	DefaultKeyHeader = "Ocp-Apim-Subscription-Key"
	DefaultKeyQuery  = "subscription-key"
)

// KeyParameterNames names where a subscription key is looked for.
type KeyParameterNames struct {
	Header string `json:"header"`
	Query  string `json:"query"`
}

// Operation is one method + URL template of an API.
type Operation struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
	// Method is an upper-case HTTP method, or "*" for any.
	Method string `json:"method"`
	// URLTemplate starts with "/" and may hold {param} segments and a query
	// part ("/users/{id}?fields={fields}"), as in APIM.
	URLTemplate string `json:"urlTemplate"`
	// TemplateParameters describe every {param} of URLTemplate.
	TemplateParameters []TemplateParameter `json:"templateParameters,omitempty"`
	// Policy is the operation-scope policy document, raw XML; "" means none.
	Policy string `json:"policy,omitempty"`
	// Responses are the operation's documented responses (ARM's
	// properties.responses), in the order given: mock-response answers with
	// their examples. Added in protocol version 1 without a bump: a gateway
	// that does not know the field ignores it.
	Responses []OperationResponse `json:"responses,omitempty"`
	// Request is the documented request (ARM's properties.request): its
	// query parameters beyond the URL template and its headers
	// (validate-parameters). Added like Responses.
	Request *OperationRequest `json:"request,omitempty"`
}

// OperationRequest is the documented request of an operation.
type OperationRequest struct {
	QueryParameters []TemplateParameter `json:"queryParameters,omitempty"`
	Headers         []TemplateParameter `json:"headers,omitempty"`
	// Representations are the request body's documented content types
	// with their schemas (SchemaID, TypeName; validate-content). Added like
	// Operation.Request.
	Representations []Representation `json:"representations,omitempty"`
}

// OperationResponse is one documented response of an operation.
type OperationResponse struct {
	StatusCode      int              `json:"statusCode"`
	Description     string           `json:"description,omitempty"`
	Representations []Representation `json:"representations,omitempty"`
	// Headers are the documented response headers (validate-headers).
	Headers []TemplateParameter `json:"headers,omitempty"`
}

// Representation is one content type of a documented response.
type Representation struct {
	ContentType string `json:"contentType"`
	// Example is the body of the representation's chosen example, ready to
	// send: a string example as its text, any other JSON value compact.
	// ExampleName is its name in ARM's examples map ("default" is chosen
	// first, then the first name in byte order); "" when there is none.
	Example     string `json:"example,omitempty"`
	ExampleName string `json:"exampleName,omitempty"`
	// SchemaID and TypeName name the schema (API.Schemas) and the type in
	// it the representation conforms to (validate-content).
	SchemaID string `json:"schemaId,omitempty"`
	TypeName string `json:"typeName,omitempty"`
}

// TemplateParameter describes one {name} of an operation's URL template.
type TemplateParameter struct {
	Name        string   `json:"name"`
	Type        string   `json:"type,omitempty"`
	Required    bool     `json:"required,omitempty"`
	Description string   `json:"description,omitempty"`
	Values      []string `json:"values,omitempty"`
}

// Product groups APIs; subscriptions may be scoped to it.
type Product struct {
	ID                   string `json:"id"`
	DisplayName          string `json:"displayName,omitempty"`
	SubscriptionRequired bool   `json:"subscriptionRequired"`
	// State is "published" or "notPublished"; only published products admit calls.
	State string `json:"state"`
	// APIs lists ids of this snapshot's APIs that the product contains.
	APIs []string `json:"apis"`
	// Policy is the product-scope policy document, raw XML; "" means none.
	Policy string `json:"policy,omitempty"`
}

// Subscription states (APIM's names). Only StateActive admits calls.
const (
	SubscriptionActive    = "active"
	SubscriptionSuspended = "suspended"
	SubscriptionSubmitted = "submitted"
	SubscriptionRejected  = "rejected"
	SubscriptionCancelled = "cancelled"
	SubscriptionExpired   = "expired"
)

// Subscription is a key holder's right to call APIs. The raw keys never reach
// the gateway: only their SHA-256 digests (KeyDigest) do, so a gateway checks
// a presented key by digesting it.
type Subscription struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
	// Scope is "/apis" (all APIs), "/apis/{apiId}" or "/products/{productId}".
	Scope string `json:"scope"`
	// State is one of the Subscription* constants.
	State string `json:"state"`
	// PrimaryKeySHA256 and SecondaryKeySHA256 are KeyDigest of the keys.
	PrimaryKeySHA256   string `json:"primaryKeySha256"`
	SecondaryKeySHA256 string `json:"secondaryKeySha256"`
}

// Scope kinds returned by ParseScope.
const (
	ScopeAll     = "all"
	ScopeAPI     = "api"
	ScopeProduct = "product"
)

// ParseScope splits a subscription scope into its kind (ScopeAll, ScopeAPI,
// ScopeProduct) and the API or product id. It accepts a full ARM id too
// (".../service/x/apis/a") and a trailing slash.
func ParseScope(scope string) (kind, id string, err error) {
	s := strings.TrimSuffix(scope, "/")
	if i := strings.Index(strings.ToLower(s), "/providers/microsoft.apimanagement/service/"); i >= 0 {
		rest := s[i+len("/providers/microsoft.apimanagement/service/"):]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			s = rest[j:]
		} else {
			s = ""
		}
	}
	switch {
	case s == "/apis":
		return ScopeAll, "", nil
	case strings.HasPrefix(s, "/apis/") && !strings.Contains(s[6:], "/") && len(s) > 6:
		return ScopeAPI, s[6:], nil
	case strings.HasPrefix(s, "/products/") && !strings.Contains(s[10:], "/") && len(s) > 10:
		return ScopeProduct, s[10:], nil
	}
	return "", "", fmt.Errorf("scope %q is not /apis, /apis/{apiId} or /products/{productId}", scope)
}

// KeyDigest returns the lowercase hex SHA-256 of a subscription key: the form
// in which keys travel to gateways.
func KeyDigest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// PolicyFragment is a reusable piece of policy, included by id with
// <include-fragment fragment-id="..."/>.
type PolicyFragment struct {
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	// Value is the raw XML, "<fragment>…</fragment>".
	Value string `json:"value"`
}

// NamedValue is a {{name}} substitution for policies. Secret values reach the
// gateway (it needs them) but must never be logged or shown by it.
type NamedValue struct {
	ID string `json:"id"`
	// DisplayName is the name policies use in {{...}}.
	DisplayName string `json:"displayName"`
	Value       string `json:"value"`
	Secret      bool   `json:"secret"`
}

// Backend is a named backend, selected with <set-backend-service backend-id="..."/>:
// one service (Type "" or "Single", with URL) or a load-balanced pool of
// other backends (Type "Pool").
type Backend struct {
	ID          string `json:"id"`
	URL         string `json:"url,omitempty"`
	Protocol    string `json:"protocol"`
	Description string `json:"description,omitempty"`
	// Type is "Single" (or "") or "Pool".
	Type string `json:"type,omitempty"`
	// TLS: how an https URL's certificate is checked (nil: both checks on).
	TLS *BackendTLS `json:"tls,omitempty"`
	// Credentials added to every request sent to this backend.
	Credentials *BackendCredentials `json:"credentials,omitempty"`
	// CircuitBreaker trips the backend after failures (at most one rule).
	CircuitBreaker *CircuitBreaker `json:"circuitBreaker,omitempty"`
	// Pool lists the members of a Type "Pool" backend.
	Pool *BackendPool `json:"pool,omitempty"`
	// HTTPVersion is ours: APIM's backend entity has no HTTP version (its
	// protocol is http or soap). "" or "1.1": HTTP/1.1, the default. "2":
	// HTTP/2 — for an https URL ALPN must agree on h2, for an http URL h2c
	// with prior knowledge. "auto": https only; ALPN offers h2 and
	// http/1.1 and the backend chooses. Single backends only.
	HTTPVersion string `json:"httpVersion,omitempty"`
	// Proxy: requests to this backend go through a forward proxy.
	Proxy *BackendProxy `json:"proxy,omitempty"`
}

// BackendProxy is APIM's backend proxy (BackendProxyContract): an http://
// forward proxy; http backends are sent requests in absolute form, https
// backends are reached through a CONNECT tunnel. Username and Password, when
// set, are sent as Proxy-Authorization: Basic. Password is a secret: it
// reaches the gateway only in its snapshot and is never shown.
type BackendProxy struct {
	URL      string `json:"url"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// BackendTLS is APIM's backend tls: nil fields mean true.
type BackendTLS struct {
	ValidateCertificateChain *bool `json:"validateCertificateChain,omitempty"`
	ValidateCertificateName  *bool `json:"validateCertificateName,omitempty"`
}

// BackendCredentials is APIM's backend credentials.
type BackendCredentials struct {
	// CertificateIDs name Certificates (with their private keys) presented
	// as client certificates (mTLS) to an https backend.
	CertificateIDs []string `json:"certificateIds,omitempty"`
	// Header: header name → values set on the forwarded request.
	Header map[string][]string `json:"header,omitempty"`
	// Query: parameter name → values added to the forwarded request.
	Query map[string][]string `json:"query,omitempty"`
	// Authorization sets "Authorization: <scheme> <parameter>".
	Authorization *BackendAuthorization `json:"authorization,omitempty"`
}

// BackendAuthorization is APIM's credentials.authorization.
type BackendAuthorization struct {
	Scheme    string `json:"scheme"`
	Parameter string `json:"parameter"`
}

// CircuitBreaker is APIM's backend circuitBreaker.
type CircuitBreaker struct {
	Rules []CircuitBreakerRule `json:"rules"`
}

// CircuitBreakerRule trips the backend for TripDuration when its
// FailureCondition holds within Interval: Count failures, or (with
// Percentage) failures making at least Percentage percent of the exchanges
// and at least Count (default 1) of them. A failure is an answer whose
// status is in StatusCodeRanges, or no answer at all (a failure to connect,
// a TLS or proxy failure, a timeout), narrowed by ErrorReasons. Durations are
// ISO 8601 ("PT1M").
type CircuitBreakerRule struct {
	Name             string           `json:"name,omitempty"`
	FailureCondition FailureCondition `json:"failureCondition"`
	TripDuration     string           `json:"tripDuration"`
	// AcceptRetryAfter: a Retry-After header on the failing answer sets the
	// trip duration instead.
	AcceptRetryAfter bool `json:"acceptRetryAfter,omitempty"`
}

// FailureCondition is a circuit breaker rule's failureCondition (APIM's
// CircuitBreakerFailureCondition).
type FailureCondition struct {
	// Count: failures within Interval that trip (0: unset; then Percentage
	// must be set).
	Count int `json:"count,omitempty"`
	// Percentage (1-100, 0: unset): the share of failed exchanges within
	// Interval that trips.
	Percentage       int               `json:"percentage,omitempty"`
	Interval         string            `json:"interval"`
	StatusCodeRanges []StatusCodeRange `json:"statusCodeRanges,omitempty"`
	// ErrorReasons: when it lists BackendConnectionFailure and/or Timeout,
	// only those no-answer failures count (every one counts otherwise);
	// other entries (APIM's samples write "Server errors") are labels with
	// no effect: StatusCodeRanges selects the answers that count.
	ErrorReasons []string `json:"errorReasons,omitempty"`
}

// Error reasons a circuit breaker's errorReasons can select (APIM's
// context.LastError.Reason codes for a backend that did not answer).
const (
	ReasonBackendConnectionFailure = "BackendConnectionFailure" // unreachable, TLS or proxy failure
	ReasonTimeout                  = "Timeout"                  // connect or response timeout
)

// StatusCodeRange is an inclusive range of status codes.
type StatusCodeRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// BackendPool is APIM's pool: member backends with priority (lower first)
// and weight.
type BackendPool struct {
	Services []PoolService `json:"services"`
}

// PoolService is one pool member.
type PoolService struct {
	ID       string `json:"id"`
	Priority int    `json:"priority,omitempty"`
	Weight   int    `json:"weight,omitempty"`
}

// Certificate is a certificate the control plane holds (APIM's
// /certificates/{id}) that this gateway needs: a CA it trusts for https
// backends (TrustedCA, from the gateway's certificateAuthorities), or a
// client certificate a backend presents (then PrivateKeyPEM is set). The
// private key is a secret: it is sent only in snapshots and never shown.
type Certificate struct {
	ID         string `json:"id"`
	Thumbprint string `json:"thumbprint"` // SHA-1 of the DER, upper-case hex, as APIM shows it
	// CertificatePEM is the certificate, then any chain, PEM-encoded.
	CertificatePEM string `json:"certificatePem"`
	// PrivateKeyPEM is the PKCS#8 key, PEM-encoded; only for client certificates.
	PrivateKeyPEM string `json:"privateKeyPem,omitempty"`
	// TrustedCA: trusted as a root for https backends.
	TrustedCA bool `json:"trustedCa,omitempty"`
}

// checksumOf returns "sha256:<hex>" of the JSON encoding of s with Checksum "".
func checksumOf(s *Snapshot) (string, error) {
	c := *s
	c.Checksum = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("wire: encode snapshot: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Seal sets ProtocolVersion (when 0) and Checksum. Call it after the last
// change to s and before encoding it.
func (s *Snapshot) Seal() error {
	if s.ProtocolVersion == 0 {
		s.ProtocolVersion = ProtocolVersion
	}
	sum, err := checksumOf(s)
	if err != nil {
		return err
	}
	s.Checksum = sum
	return nil
}

// VerifyChecksum reports ErrChecksum when Checksum does not match the content.
func (s *Snapshot) VerifyChecksum() error {
	sum, err := checksumOf(s)
	if err != nil {
		return err
	}
	if sum != s.Checksum {
		return fmt.Errorf("%w: have %q, content hashes to %q", ErrChecksum, s.Checksum, sum)
	}
	return nil
}

// Encode seals s and returns its JSON encoding.
func (s *Snapshot) Encode() ([]byte, error) {
	if err := s.Seal(); err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// Decode parses a snapshot, then checks in order: protocol version
// (ErrProtocolVersion), checksum (ErrChecksum) and internal consistency
// (ErrInvalidSnapshot, see Validate). Unknown JSON fields are an error, so
// a newer schema is never half-understood.
func Decode(data []byte) (*Snapshot, error) {
	var probe struct {
		ProtocolVersion *int `json:"protocolVersion"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSnapshot, err)
	}
	if probe.ProtocolVersion == nil {
		return nil, fmt.Errorf("%w: protocolVersion missing", ErrProtocolVersion)
	}
	if *probe.ProtocolVersion != ProtocolVersion {
		return nil, fmt.Errorf("%w: snapshot has %d, this build speaks %d", ErrProtocolVersion, *probe.ProtocolVersion, ProtocolVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Snapshot
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSnapshot, err)
	}
	if err := s.VerifyChecksum(); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeLocal is Decode for a hand-edited standalone snapshot
// (config.local.path): an empty checksum is accepted and filled in; a
// present one must still match.
func DecodeLocal(data []byte) (*Snapshot, error) {
	var probe struct {
		Checksum string `json:"checksum"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSnapshot, err)
	}
	if probe.Checksum != "" {
		return Decode(data)
	}
	var s Snapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSnapshot, err)
	}
	if s.ProtocolVersion != ProtocolVersion {
		return nil, fmt.Errorf("%w: snapshot has %d, this build speaks %d", ErrProtocolVersion, s.ProtocolVersion, ProtocolVersion)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := s.Seal(); err != nil {
		return nil, err
	}
	return &s, nil
}
