package systemd

import "errors"

// Sentinel errors of package systemd. Wrapped errors name the operation and keep
// the cause with %w.
var (
	// ErrLogFormat means a telemetry.logs.std value other than text, json or none.
	ErrLogFormat = errors.New("systemd: unknown log format")
	// ErrWatchdogEnv means WATCHDOG_USEC or WATCHDOG_PID is malformed.
	ErrWatchdogEnv = errors.New("systemd: malformed watchdog environment")
	// ErrCheckTimeout is what the watchdog records when a liveness check did not
	// answer within its timeout.
	ErrCheckTimeout = errors.New("systemd: liveness check did not answer in time")
	// ErrCheckStillRunning is what the watchdog records while an earlier check
	// that timed out has still not returned (a wedged loop).
	ErrCheckStillRunning = errors.New("systemd: previous liveness check still running")
)
