// Package urltemplate parses and matches APIM operation URL templates
// ("/users/{id}/orders?status={status}", "/files/{name}.json", "/*"). It is
// the one template parser of the repository: apimcp's validation (wire), the
// OpenAPI importer and the gateway's router all use it, so a template the
// management API accepts is one the gateway can route.
//
// It knows nothing about APIs, methods or backends, and imports only the
// standard library. Matching does not allocate: matched parameters are kept
// as offsets into the caller's strings (Match).
package urltemplate
