package urltemplate

import "errors"

// ErrInvalid: a URL template is malformed or uses syntax the gateway cannot
// route. Parse wraps it with the template and the reason; test with errors.Is.
var ErrInvalid = errors.New("urltemplate: invalid URL template")
