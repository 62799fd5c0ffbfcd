package envconf

import (
	"errors"
	"strings"
	"testing"
)

// TestManagedIdentityKeys: policy.managed-identity.protocol and .endpoint
// are read, checked, defaulted, and a typo gets a did-you-mean.
func TestManagedIdentityKeys(t *testing.T) {
	const base = "config.local.path=/srv/snap.json\n"
	c, err := Parse("env.conf", []byte(base))
	if err != nil || c.IdentityProtocol != "imds" || c.IdentityEndpoint != "" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = Parse("env.conf", []byte(base+"policy.managed-identity.protocol=arc\npolicy.managed-identity.endpoint=http://127.0.0.1:40342/metadata/identity/oauth2/token\n"))
	if err != nil || c.IdentityProtocol != "arc" || c.IdentityEndpoint != "http://127.0.0.1:40342/metadata/identity/oauth2/token" {
		t.Fatalf("set: %+v %v", c, err)
	}
	for _, bad := range []struct{ line, want string }{
		{"policy.managed-identity.protocol=msi", `env.conf:2: policy.managed-identity.protocol: envconf: invalid value: "msi" is not one of imds, arc, app-service`},
		{"policy.managed-identity.endpoint=169.254.169.254", `env.conf:2: policy.managed-identity.endpoint: envconf: invalid value: "169.254.169.254" is not an http:// or https:// URL`},
	} {
		_, err := Parse("env.conf", []byte(base+bad.line+"\n"))
		if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.line, err, bad.want)
		}
	}
	c, err = Parse("env.conf", []byte(base+"policy.managed-identity.endpont=http://x/\n"))
	if err != nil || len(c.Warnings) == 0 || !strings.Contains(c.Warnings[0].String(), "did you mean policy.managed-identity.endpoint?") {
		t.Fatalf("typo: %v %v", c.Warnings, err)
	}
	if !RestartOnly("policy.managed-identity.endpoint") || !RestartOnly("policy.managed-identity.protocol") {
		t.Error("the token source is made at start: the keys should say restart")
	}
}
