package main

import (
	"testing"

	"github.com/apimgw/apimgw/internal/testenv"
)

// sharedDir is testenv.SharedDir: ../shared/<rel> beside the repository,
// failing the test under CI when it is missing and skipping it loudly
// otherwise.
func sharedDir(t testing.TB, rel string) string {
	t.Helper()
	return testenv.SharedDir(t, rel)
}
