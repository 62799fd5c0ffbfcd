package appliance

import "github.com/apimgw/apimgw/internal/testalloc"

// mallocs is testalloc.Mallocs: the exact heap allocations of n calls of f.
func mallocs(n int, f func(), alsoNotCounted ...string) (int64, string) {
	return testalloc.Mallocs(n, f, alsoNotCounted...)
}
