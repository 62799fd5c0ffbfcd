// Package importer turns API descriptions into management-API resources for
// apimctl: OpenAPI 3.0/3.1 documents (JSON or YAML) into an API and its
// operations, and an Azure APIOps extractor folder into the whole set of
// resources it describes. It only reads files and builds requests; applying
// them (over HTTP) is the caller's job. It never imports appliance code.
package importer
