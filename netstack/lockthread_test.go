package netstack

import "testing"

func TestLockOSThreadKnob(t *testing.T) {
	for _, c := range []struct {
		env  string
		want bool
	}{{"", false}, {"0", false}, {"false", false}, {"no", false}, {"1", true}, {"true", true}, {"YES", true}} {
		t.Setenv("APIMGW_LOCKOSTHREAD", c.env)
		if got := lockOSThread(); got != c.want {
			t.Errorf("APIMGW_LOCKOSTHREAD=%q: lock %v, want %v", c.env, got, c.want)
		}
	}
}
