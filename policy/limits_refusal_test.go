package policy

import (
	"encoding/json"
	"runtime"
	"testing"
	"time"
)

func TestAppendTimeSpan(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.00:00:00"},
		{time.Millisecond, "0.00:00:01"},
		{90061 * time.Second, "1.01:01:01"},
		{400*24*time.Hour + 23*time.Hour + 59*time.Minute + 59*time.Second, "400.23:59:59"},
	} {
		if got := string(appendTimeSpan([]byte("x"), tc.d)); got != "x"+tc.want {
			t.Errorf("%v: %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestRefusalsDoNotAllocate: the 429 and 403 bodies are written by the
// escaping JSON writer into the Context's reused buffers, so a client
// hammering a limit costs no allocation per refusal. Counted exactly over many
// refusals (testing.AllocsPerRun rounds down).
func TestRefusalsDoNotAllocate(t *testing.T) {
	c := NewContext()
	refuse := func() {
		c.Response.reset()
		refuseRate(c, 42*time.Second, "", "")
		refuseQuota(c, 90061*time.Second, false)
	}
	refuse()
	var v struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	if err := json.Unmarshal(c.Response.Body, &v); err != nil || v.StatusCode != 403 || v.Message != "Out of call volume quota. Quota will be replenished in 1.01:01:01." {
		t.Fatalf("403 body %s: %+v %v", c.Response.Body, v, err)
	}
	c.Response.reset()
	refuseRate(c, 42*time.Second, "", "")
	if string(c.Response.Body) != `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 42 seconds."}` {
		t.Fatalf("429 body %s", c.Response.Body)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 1000 {
		refuse()
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n != 0 {
		t.Fatalf("%d allocations in 1000 pairs of refusals, want 0", n)
	}
}
