package importer

import "errors"

// Sentinel errors of package importer; returned errors wrap them with the
// file and the element concerned.
var (
	// ErrNotOpenAPI: the document is not OpenAPI 3.x (Swagger 2.0, unparsable, …).
	ErrNotOpenAPI = errors.New("importer: not an OpenAPI 3.x document")
	// ErrRef: a $ref cannot be resolved (external, or pointing nowhere).
	ErrRef = errors.New("importer: unresolvable $ref")
	// ErrNoOperations: the document describes no operations to import.
	ErrNoOperations = errors.New("importer: no operations")
	// ErrAPIOps: the APIOps folder is malformed.
	ErrAPIOps = errors.New("importer: bad APIOps folder")
)
