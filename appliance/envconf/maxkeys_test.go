package envconf

import (
	"errors"
	"strings"
	"testing"
)

func TestRateLimitMaxKeys(t *testing.T) {
	const base = "config.local.path=/srv/snap.json\n"
	cases := []struct {
		name, src string
		want      int
		err       string
	}{
		{"default", "", DefaultRateLimitMaxKeys, ""},
		{"set", "policy.rate-limit.max-keys=1000\n", 1000, ""},
		{"empty is the default", "policy.rate-limit.max-keys=\n", DefaultRateLimitMaxKeys, ""},
		{"zero", "policy.rate-limit.max-keys=0\n", 0, "env.conf:2: policy.rate-limit.max-keys: envconf: invalid value: \"0\" is not a whole number from 1 to 10000000"},
		{"too many", "policy.rate-limit.max-keys=20000000\n", 0, "not a whole number from 1 to 10000000"},
		{"not a number", "policy.rate-limit.max-keys=lots\n", 0, `"lots" is not a whole number`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("env.conf", []byte(base+tc.src))
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || c.RateLimitMaxKeys != tc.want {
				t.Fatalf("got %v, %v; want %d", c, err, tc.want)
			}
		})
	}
}
