package systemd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// Log formats for standard-stream logging, the values of env.conf's
// telemetry.logs.std.
const (
	LogText = "text"
	LogJSON = "json"
	LogNone = "none"
)

// LogOptions configures NewLogHandler. The zero value logs text at Info to
// stderr, or to the journal under systemd.
type LogOptions struct {
	// Format is telemetry.logs.std: text (default when empty), json or none.
	// Under systemd the journal gets structured fields whatever the format;
	// none turns logging off there too.
	Format string
	// Level is the minimum level; nil means slog.LevelInfo.
	Level slog.Leveler
	// AddSource adds the caller's file and line (CODE_FILE/CODE_LINE in the
	// journal, source= on stderr).
	AddSource bool
	// Identifier is SYSLOG_IDENTIFIER in the journal; empty means the program
	// name.
	Identifier string
	// Stderr is where text and JSON go; nil means os.Stderr.
	Stderr io.Writer

	// underJournal and send replace journal detection and journald's socket in
	// tests.
	underJournal func() (bool, error)
	send         func(msg string, p journal.Priority, vars map[string]string) error
}

// ParseLogFormat checks a telemetry.logs.std value; empty means text.
func ParseLogFormat(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", LogText:
		return LogText, nil
	case LogJSON:
		return LogJSON, nil
	case LogNone:
		return LogNone, nil
	}
	return "", fmt.Errorf("%w %q (want text, json or none)", ErrLogFormat, s)
}

// UnderJournal reports whether stderr is connected to journald
// (JOURNAL_STREAM names stderr's device and inode), which is how a process
// started by systemd with StandardError=journal finds out.
func UnderJournal() bool {
	ok, err := journal.StderrIsJournalStream()
	return ok && err == nil
}

// NewLogHandler returns the process's slog.Handler: a journal handler that sends
// one native-protocol datagram per record with the attributes as fields when
// stderr is the journal, else a text or JSON handler on stderr, or a handler
// that drops everything for none. The handler is safe for concurrent use.
func NewLogHandler(o LogOptions) (slog.Handler, error) {
	format, err := ParseLogFormat(o.Format)
	if err != nil {
		return nil, err
	}
	if format == LogNone {
		return discard{}, nil
	}
	level := o.Level
	if level == nil {
		level = slog.LevelInfo
	}
	w := o.Stderr
	if w == nil {
		w = os.Stderr
	}
	hopts := &slog.HandlerOptions{Level: level, AddSource: o.AddSource}
	var std slog.Handler
	if format == LogJSON {
		std = slog.NewJSONHandler(w, hopts)
	} else {
		std = slog.NewTextHandler(w, hopts)
	}
	detect := o.underJournal
	if detect == nil {
		detect = journal.StderrIsJournalStream
	}
	if ok, err := detect(); err != nil || !ok {
		return std, nil
	}
	send := o.send
	if send == nil {
		send = journal.Send
	}
	ident := o.Identifier
	if ident == "" {
		ident = filepath.Base(os.Args[0])
	}
	return &JournalHandler{shared: &journalShared{
		level: level, source: o.AddSource, ident: ident, send: send, fallback: std,
	}}, nil
}

type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }

// JournalHandler writes records to journald with structured fields: MESSAGE
// (the message followed by its attributes as key=value, so plain journalctl
// shows them), PRIORITY, SYSLOG_IDENTIFIER, optional CODE_FILE/CODE_LINE/
// CODE_FUNC, and one field per attribute, its key upper-cased with groups joined
// by "_" (so `journalctl API=petstore` works). If journald cannot be reached a
// record goes to the stderr handler instead. Safe for concurrent use.
type JournalHandler struct {
	shared *journalShared
	attrs  []slog.Attr // from WithAttrs, keys already qualified by group
	group  string      // current group prefix, "a.b." form
}

type journalShared struct {
	level    slog.Leveler
	source   bool
	ident    string
	send     func(string, journal.Priority, map[string]string) error
	fallback slog.Handler
	mu       sync.Mutex
	failed   bool
}

// Enabled implements slog.Handler.
func (h *JournalHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.shared.level.Level()
}

// WithAttrs implements slog.Handler.
func (h *JournalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), qualify(h.group, as)...)
	return &c
}

// WithGroup implements slog.Handler.
func (h *JournalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group = h.group + name + "."
	return &c
}

func qualify(group string, as []slog.Attr) []slog.Attr {
	if group == "" {
		return as
	}
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = slog.Attr{Key: group + a.Key, Value: a.Value}
	}
	return out
}

// Handle implements slog.Handler.
func (h *JournalHandler) Handle(ctx context.Context, r slog.Record) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": h.shared.ident}
	var msg strings.Builder
	msg.WriteString(r.Message)
	add := func(key string, v slog.Value) {
		fieldsOf(key, v, vars, &msg)
	}
	for _, a := range h.attrs {
		add(a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		add(h.group+a.Key, a.Value)
		return true
	})
	if h.shared.source && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		vars["CODE_FILE"] = f.File
		vars["CODE_LINE"] = strconv.Itoa(f.Line)
		vars["CODE_FUNC"] = f.Function
	}
	err := h.shared.send(msg.String(), priority(r.Level), vars)
	if err == nil {
		return nil
	}
	h.shared.mu.Lock()
	first := !h.shared.failed
	h.shared.failed = true
	h.shared.mu.Unlock()
	fb := h.shared.fallback
	if len(h.attrs) > 0 {
		fb = fb.WithAttrs(h.attrs)
	}
	if first {
		_ = fb.Handle(ctx, slog.NewRecord(time.Now(), slog.LevelWarn, "journal unreachable; logging to stderr: "+err.Error(), 0))
	}
	return fb.Handle(ctx, r)
}

// fieldsOf flattens one attribute into journal fields and appends key=value to
// the message text.
func fieldsOf(key string, v slog.Value, vars map[string]string, msg *strings.Builder) {
	v = v.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, a := range v.Group() {
			k := a.Key
			if key != "" {
				k = key + "." + a.Key
			}
			fieldsOf(k, a.Value, vars, msg)
		}
		return
	}
	if key == "" {
		return
	}
	var s string
	switch v.Kind() {
	case slog.KindTime:
		s = v.Time().Format(time.RFC3339Nano)
	case slog.KindDuration:
		s = v.Duration().String()
	default:
		s = v.String()
	}
	vars[FieldName(key)] = s
	msg.WriteByte(' ')
	msg.WriteString(key)
	msg.WriteByte('=')
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		msg.WriteString(strconv.Quote(s))
	} else {
		msg.WriteString(s)
	}
}

// reserved journal fields an attribute must not overwrite.
var reserved = map[string]bool{
	"MESSAGE": true, "MESSAGE_ID": true, "PRIORITY": true, "SYSLOG_IDENTIFIER": true,
	"CODE_FILE": true, "CODE_LINE": true, "CODE_FUNC": true, "ERRNO": true,
	"SYSLOG_FACILITY": true, "SYSLOG_PID": true, "SYSLOG_TIMESTAMP": true,
}

// FieldName turns an attribute key into a journal field name: upper case,
// anything but A–Z, 0–9 and _ replaced by _, no leading _ or digit, at most 64
// bytes, and reserved names (MESSAGE, PRIORITY, CODE_FILE, …) prefixed with
// ATTR_ so an attribute cannot overwrite them.
func FieldName(key string) string {
	b := make([]byte, 0, len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		default:
			c = '_'
		}
		b = append(b, c)
	}
	s := strings.TrimLeft(string(b), "_")
	if s == "" || (s[0] >= '0' && s[0] <= '9') || reserved[s] {
		s = "ATTR_" + s
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}
