package systemd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

type sent struct {
	msg  string
	prio journal.Priority
	vars map[string]string
}

type fakeJournal struct {
	mu   sync.Mutex
	got  []sent
	fail error
}

func (f *fakeJournal) send(msg string, p journal.Priority, vars map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.got = append(f.got, sent{msg, p, vars})
	return nil
}

func journalLogger(t *testing.T, fj *fakeJournal, stderr *bytes.Buffer) *slog.Logger {
	t.Helper()
	h, err := NewLogHandler(LogOptions{
		Format: "text", Level: slog.LevelDebug, AddSource: true, Identifier: "apimgw", Stderr: stderr,
		underJournal: func() (bool, error) { return true, nil },
		send:         fj.send,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.(*JournalHandler); !ok {
		t.Fatalf("under the journal got %T, want *JournalHandler", h)
	}
	return slog.New(h)
}

func TestJournalHandlerFields(t *testing.T) {
	fj := &fakeJournal{}
	log := journalLogger(t, fj, &bytes.Buffer{})
	log.With("component", "sync").WithGroup("cp").Warn("control plane unreachable",
		"endpoint", "https://cp.example", "retry", 5*time.Second, slog.Group("err", "code", 503))
	log.Debug("tick")
	log.Error("boom", "message", "attr named message", "1st", "x")

	if len(fj.got) != 3 {
		t.Fatalf("sent %d records, want 3", len(fj.got))
	}
	r := fj.got[0]
	if r.prio != journal.PriWarning {
		t.Errorf("priority %d, want %d", r.prio, journal.PriWarning)
	}
	want := map[string]string{
		"SYSLOG_IDENTIFIER": "apimgw",
		"COMPONENT":         "sync",
		"CP_ENDPOINT":       "https://cp.example",
		"CP_RETRY":          "5s",
		"CP_ERR_CODE":       "503",
	}
	for k, v := range want {
		if r.vars[k] != v {
			t.Errorf("field %s = %q, want %q (all: %v)", k, r.vars[k], v, r.vars)
		}
	}
	if !strings.HasSuffix(r.vars["CODE_FILE"], "log_test.go") || r.vars["CODE_LINE"] == "" {
		t.Errorf("CODE_FILE/CODE_LINE = %q/%q", r.vars["CODE_FILE"], r.vars["CODE_LINE"])
	}
	wantMsg := "control plane unreachable component=sync cp.endpoint=https://cp.example cp.retry=5s cp.err.code=503"
	if r.msg != wantMsg {
		t.Errorf("MESSAGE %q\nwant     %q", r.msg, wantMsg)
	}
	if fj.got[1].prio != journal.PriDebug || fj.got[2].prio != journal.PriErr {
		t.Errorf("priorities %d, %d", fj.got[1].prio, fj.got[2].prio)
	}
	if v := fj.got[2].vars["ATTR_MESSAGE"]; v != "attr named message" {
		t.Errorf("an attribute named message must not overwrite MESSAGE: ATTR_MESSAGE=%q", v)
	}
	if v := fj.got[2].vars["ATTR_1ST"]; v != "x" {
		t.Errorf("leading digit: ATTR_1ST=%q", v)
	}
}

func TestJournalHandlerLevel(t *testing.T) {
	fj := &fakeJournal{}
	h, err := NewLogHandler(LogOptions{
		underJournal: func() (bool, error) { return true, nil }, send: fj.send,
	})
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h).Debug("hidden")
	slog.New(h).Info("shown")
	if len(fj.got) != 1 || fj.got[0].msg != "shown" {
		t.Fatalf("got %+v", fj.got)
	}
}

func TestJournalFallbackToStderr(t *testing.T) {
	fj := &fakeJournal{fail: errors.New("connection refused")}
	var stderr bytes.Buffer
	log := journalLogger(t, fj, &stderr)
	log.Info("first", "k", "v")
	log.Info("second")
	out := stderr.String()
	if strings.Count(out, "journal unreachable") != 1 {
		t.Errorf("want one 'journal unreachable' line, got:\n%s", out)
	}
	if !strings.Contains(out, "msg=first k=v") || !strings.Contains(out, "msg=second") {
		t.Errorf("records missing from stderr:\n%s", out)
	}
}

func TestStderrFormats(t *testing.T) {
	notJournal := func() (bool, error) { return false, nil }
	cases := []struct {
		format string
		check  func(t *testing.T, out string)
	}{
		{"", func(t *testing.T, out string) {
			if !strings.Contains(out, `level=INFO msg=hello api=petstore`) {
				t.Errorf("text: %q", out)
			}
		}},
		{"TEXT", func(t *testing.T, out string) {
			if !strings.Contains(out, `msg=hello`) {
				t.Errorf("text: %q", out)
			}
		}},
		{"json", func(t *testing.T, out string) {
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil || m["msg"] != "hello" || m["api"] != "petstore" {
				t.Errorf("json: %q (%v)", out, err)
			}
		}},
		{"none", func(t *testing.T, out string) {
			if out != "" {
				t.Errorf("none wrote %q", out)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.format, func(t *testing.T) {
			var buf bytes.Buffer
			h, err := NewLogHandler(LogOptions{Format: c.format, Stderr: &buf, underJournal: notJournal})
			if err != nil {
				t.Fatal(err)
			}
			slog.New(h).Info("hello", "api", "petstore")
			c.check(t, buf.String())
		})
	}
	// none discards under the journal too.
	fj := &fakeJournal{}
	h, _ := NewLogHandler(LogOptions{Format: "none", underJournal: func() (bool, error) { return true, nil }, send: fj.send})
	slog.New(h).Error("x")
	if len(fj.got) != 0 {
		t.Error("none still sent to the journal")
	}
}

func TestParseLogFormat(t *testing.T) {
	for in, want := range map[string]string{"": "text", "text": "text", " Json ": "json", "none": "none"} {
		if got, err := ParseLogFormat(in); err != nil || got != want {
			t.Errorf("ParseLogFormat(%q) = %q, %v", in, got, err)
		}
	}
	_, err := ParseLogFormat("xml")
	if !errors.Is(err, ErrLogFormat) || !strings.Contains(err.Error(), `"xml"`) {
		t.Fatalf("ParseLogFormat(xml) = %v", err)
	}
	if _, err := NewLogHandler(LogOptions{Format: "yaml"}); !errors.Is(err, ErrLogFormat) {
		t.Fatalf("NewLogHandler(yaml) = %v", err)
	}
}

// TestUnderJournalDetection sets JOURNAL_STREAM to stderr's own device and
// inode, which is what systemd does, and to something else.
func TestUnderJournalDetection(t *testing.T) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(os.Stderr.Fd()), &st); err != nil {
		t.Skip("fstat stderr:", err)
	}
	t.Setenv("JOURNAL_STREAM", "")
	if UnderJournal() {
		t.Fatal("UnderJournal with JOURNAL_STREAM empty")
	}
	t.Setenv("JOURNAL_STREAM", "1:1")
	if UnderJournal() {
		t.Fatal("UnderJournal with a foreign JOURNAL_STREAM")
	}
	t.Setenv("JOURNAL_STREAM", jsValue(st))
	if !UnderJournal() {
		t.Fatal("UnderJournal false with JOURNAL_STREAM naming stderr")
	}
	h, err := NewLogHandler(LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.(*JournalHandler); !ok {
		t.Fatalf("NewLogHandler under JOURNAL_STREAM = %T", h)
	}
	if !h.Enabled(context.Background(), slog.LevelInfo) {
		t.Fatal("Info not enabled")
	}
}

func TestFieldName(t *testing.T) {
	for in, want := range map[string]string{
		"api": "API", "cp.endpoint": "CP_ENDPOINT", "_x": "X", "a-b c": "A_B_C",
		"MESSAGE": "ATTR_MESSAGE", "priority": "ATTR_PRIORITY", "9lives": "ATTR_9LIVES", "": "ATTR_",
		strings.Repeat("k", 70): strings.Repeat("K", 64),
	} {
		if got := FieldName(in); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

func jsValue(st syscall.Stat_t) string {
	return strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino), 10)
}
