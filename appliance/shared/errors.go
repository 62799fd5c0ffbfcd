package shared

import "errors"

// ErrConfig: the Redis URL or password file cannot be used.
var ErrConfig = errors.New("shared: bad Redis configuration")
