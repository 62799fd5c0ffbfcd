package systemd

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify(3) state changes to the service manager over the
// datagram socket named by NOTIFY_SOCKET. When the process does not run under
// systemd (NOTIFY_SOCKET unset) every method is a no-op that returns nil, so
// callers never branch on it.
//
// A Notifier is safe for concurrent use; messages are sent one at a time in the
// order the calls are made. It holds no open socket between calls: each message
// is one datagram on a fresh connection (what go-systemd does), so it survives a
// restart of the service manager.
type Notifier struct {
	mu      sync.Mutex
	enabled bool
	// monotonic returns "MONOTONIC_USEC=<n>\n" (go-systemd's format); a field so
	// tests can fix it.
	monotonic func() string
}

// NewNotifier reads NOTIFY_SOCKET once. The variable is left in the environment
// so that a re-exec inherits it; child processes the gateway starts should not
// exist, so nothing else reads it.
func NewNotifier() *Notifier {
	return &Notifier{
		enabled:   os.Getenv("NOTIFY_SOCKET") != "",
		monotonic: daemon.SdNotifyMonotonicUsec,
	}
}

// Enabled reports whether a service manager listens (NOTIFY_SOCKET was set).
func (n *Notifier) Enabled() bool { return n != nil && n.enabled }

// Notify sends raw newline-separated assignments ("READY=1\nSTATUS=…").
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := daemon.SdNotify(false, state); err != nil {
		first, _, _ := strings.Cut(state, "\n")
		return fmt.Errorf("systemd: notify %s: %w", first, err)
	}
	return nil
}

// Ready tells systemd that start-up (or a reload) is complete: listeners are up
// and a configuration is loaded. status, when not empty, is sent along as STATUS.
func (n *Notifier) Ready(status string) error {
	return n.Notify("READY=1" + statusLine(status))
}

// Status sets the free-form status line systemctl status shows. Newlines are
// replaced by spaces: the protocol has one line per assignment.
func (n *Notifier) Status(status string) error {
	return n.Notify(strings.TrimPrefix(statusLine(status), "\n"))
}

// Reloading tells systemd that a configuration reload started (on SIGHUP).
// MONOTONIC_USEC is sent along, which systemd ≥ 253 requires for
// Type=notify-reload and older versions ignore. Call Ready when the reload is
// done, whether it succeeded or not.
func (n *Notifier) Reloading(status string) error {
	mono := "\n" + strings.TrimSuffix(n.monotonic(), "\n")
	if mono == "\n" {
		mono = ""
	}
	return n.Notify("RELOADING=1" + mono + statusLine(status))
}

// Stopping tells systemd that a graceful shutdown began (on SIGTERM).
func (n *Notifier) Stopping(status string) error {
	return n.Notify("STOPPING=1" + statusLine(status))
}

// Watchdog sends one keep-alive ping. Use Watchdog.Run rather than calling this
// on a timer: the runner pings only while the liveness check passes.
func (n *Notifier) Watchdog() error {
	return n.Notify(daemon.SdNotifyWatchdog)
}

func statusLine(status string) string {
	if status == "" {
		return ""
	}
	return "\nSTATUS=" + strings.NewReplacer("\r", " ", "\n", " ").Replace(status)
}

// Reload runs fn (re-reading the configuration on SIGHUP) between RELOADING=1
// and READY=1, as systemd expects from a Type=notify service whose ExecReload
// signals it. READY=1 is sent whether fn succeeds or not — the old
// configuration keeps serving after a failed reload — with STATUS saying which.
// It returns fn's error; notification errors are only returned when fn
// succeeded.
func (n *Notifier) Reload(doing, done string, fn func() error) error {
	nerr := n.Reloading(doing)
	err := fn()
	status := done
	if err != nil {
		status = "reload failed, previous configuration kept: " + err.Error()
	}
	if rerr := n.Ready(status); nerr == nil {
		nerr = rerr
	}
	if err != nil {
		return err
	}
	return nerr
}
