package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// ContentDigest returns "sha256:<hex>" over what s serves: its JSON encoding
// with GeneratedAt and Checksum left out. Two snapshots with equal digests
// have the same gateway, version and content and differ at most in when
// they were built, so a gateway that already serves one has nothing to do
// when it receives the other (a control plane that rebuilt the same content
// with a new generation time, as older control planes did after a restart).
func (s *Snapshot) ContentDigest() (string, error) {
	c := *s
	c.Checksum = ""
	c.GeneratedAt = time.Time{}
	b, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("wire: encode snapshot: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}
