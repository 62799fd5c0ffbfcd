package controlplane

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"sort"
)

func sortStrings(s []string) { sort.Strings(s) }

// randomHex returns n random bytes from the CSPRNG as lowercase hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("controlplane: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	return hex.EncodeToString(b)
}

// randomKey returns a gateway key: 64 random bytes, base64 (as APIM's).
func randomKey() string {
	b := make([]byte, 64)
	if _, err := rand.Read(b); err != nil {
		panic("controlplane: crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(b)
}

// newETag returns a fresh opaque entity tag (quoted, as in HTTP).
func newETag() string { return `"` + randomHex(8) + `"` }
