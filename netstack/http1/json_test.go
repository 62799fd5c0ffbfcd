package http1

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

var jsonStringCases = []struct {
	name, in, want string
}{
	{"plain", "Backend service unreachable", `"Backend service unreachable"`},
	{"empty", "", `""`},
	{"quotes", `say "hi"`, `"say \"hi\""`},
	{"backslash", `C:\path\`, `"C:\\path\\"`},
	{"named controls", "a\nb\rc\td", `"a\nb\rc\td"`},
	{"other controls", "\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
	{"non-UTF-8", "bad \xff\xfe byte", `"bad \ufffd\ufffd byte"`},
	{"truncated rune", "caf\xc3", `"caf\ufffd"`},
	{"valid UTF-8 kept", "café ☕", `"café ☕"`},
	{"line separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
	{"injection", `x","statusCode":200,"y":"`, `"x\",\"statusCode\":200,\"y\":\""`},
}

func TestAppendJSONString(t *testing.T) {
	for _, tc := range jsonStringCases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendJSONString([]byte("prefix:"), tc.in))
			if got != "prefix:"+tc.want {
				t.Fatalf("AppendJSONString(%q) = %s, want %s", tc.in, got, tc.want)
			}
			checkJSONString(t, tc.in, got[len("prefix:"):])
		})
	}
}

// checkJSONString checks that out is one valid JSON string that decodes to in
// (each invalid UTF-8 byte read as U+FFFD).
func checkJSONString(t *testing.T, in, out string) {
	t.Helper()
	var back string
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatalf("%q -> %s: not valid JSON: %v", in, out, err)
	}
	var want strings.Builder
	for i := 0; i < len(in); {
		r, n := utf8.DecodeRuneInString(in[i:])
		want.WriteRune(r) // RuneError for an invalid byte (n == 1)
		i += n
	}
	if back != want.String() {
		t.Fatalf("%q -> %s decodes to %q, want %q", in, out, back, want.String())
	}
}

func TestAppendErrorBody(t *testing.T) {
	got := string(AppendErrorBody(nil, 502, "Backend \"x\"\n\xff"))
	if got != `{"statusCode":502,"message":"Backend \"x\"\n\ufffd"}` {
		t.Fatalf("got %s", got)
	}
	var v struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	if err := json.Unmarshal([]byte(got), &v); err != nil || v.StatusCode != 502 || v.Message != "Backend \"x\"\n\ufffd" {
		t.Fatalf("%s: %+v %v", got, v, err)
	}
	// The rejection writer uses it: a message with quotes stays valid JSON.
	resp := string(AppendJSONError(nil, 400, `bad "header"`, true))
	if !strings.HasSuffix(resp, `{"statusCode":400,"message":"bad \"header\""}`) {
		t.Fatalf("AppendJSONError: %q", resp)
	}
}

func TestAppendJSONStringAllocs(t *testing.T) {
	buf := make([]byte, 0, 512)
	msg := "Backend \"unreachable\"\n\xff ☕"
	// Counted exactly over many runs (testing.AllocsPerRun rounds down).
	buf = AppendErrorBody(buf[:0], 504, msg)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10000 {
		buf = AppendErrorBody(buf[:0], 504, msg)
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n != 0 {
		t.Fatalf("%d allocations in 10000 bodies, want 0", n)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, tc := range jsonStringCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkJSONString(t, s, string(AppendJSONString(nil, s)))
	})
}

func BenchmarkAppendErrorBody(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendErrorBody(buf[:0], 502, "Backend service unreachable")
	}
}
