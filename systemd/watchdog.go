package systemd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Check is a liveness check: it returns nil when the process is healthy. The
// gateway passes one that queues a no-op task on every event loop and waits for
// all of them to answer. A check should honour ctx, but the watchdog does not
// depend on it: a check that hangs simply counts as failing until it returns.
type Check func(ctx context.Context) error

// WatchdogInterval returns the watchdog timeout systemd expects pings within
// (WatchdogSec= in the unit, passed as WATCHDOG_USEC), or 0 when the watchdog is
// off or meant for another process (WATCHDOG_PID names a different pid).
func WatchdogInterval() (time.Duration, error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: WATCHDOG_USEC=%q", ErrWatchdogEnv, usec)
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil {
			return 0, fmt.Errorf("%w: WATCHDOG_PID=%q", ErrWatchdogEnv, pid)
		}
		if p != os.Getpid() {
			return 0, nil
		}
	}
	return time.Duration(n) * time.Microsecond, nil
}

// Watchdog pings systemd's watchdog only while a liveness check passes, so that a
// wedged event loop gets the service killed (SIGABRT, which makes Go print every
// goroutine to the journal) and restarted by Restart=on-failure.
//
// Every Interval/2 it runs Check with a timeout of Interval/4; it pings when the
// check returned nil in time. A check that is still running from an earlier
// round is not started again (no goroutine pile-up behind a wedged loop): the
// round counts as failed. Pings resume as soon as a check passes again, so a
// short stall shorter than the timeout costs nothing.
//
// Fields are read once by Run; do not change them while it runs.
type Watchdog struct {
	// Notifier sends the pings. Required.
	Notifier *Notifier
	// Check decides whether to ping. Required.
	Check Check
	// Interval is the watchdog timeout; 0 means "from WATCHDOG_USEC".
	Interval time.Duration
	// Logger gets one line when the check starts failing and one when it
	// recovers; nil means slog.Default().
	Logger *slog.Logger
	// OnResult, if set, is called after every round with the check's result
	// (nil when a ping was sent). For tests and for the status page.
	OnResult func(err error)
}

// Run pings until ctx is done and returns nil then. It returns at once (nil)
// when the watchdog is off, and an error when the environment is malformed.
// Run does not wait for a hung check to return.
func (w *Watchdog) Run(ctx context.Context) error {
	interval := w.Interval
	if interval == 0 {
		var err error
		if interval, err = WatchdogInterval(); err != nil {
			return err
		}
		if interval == 0 {
			return nil
		}
	}
	log := w.Logger
	if log == nil {
		log = slog.Default()
	}
	period, timeout := interval/2, interval/4
	ticker := time.NewTicker(period)
	defer ticker.Stop()

	var running chan error // result of a check that has not returned yet
	failing := false
	round := func() {
		if running == nil {
			ch := make(chan error, 1)
			cctx, cancel := context.WithTimeout(ctx, timeout)
			go func() {
				defer cancel()
				ch <- w.Check(cctx)
			}()
			running = ch
		}
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		var err error
		select {
		case err = <-running:
			running = nil
		case <-timer.C:
			err = ErrCheckTimeout
		case <-ctx.Done():
			return
		}
		if err == nil {
			if perr := w.Notifier.Watchdog(); perr != nil {
				log.Warn("watchdog ping failed", "err", perr)
			}
			if failing {
				log.Info("liveness check passes again; watchdog pings resumed")
				failing = false
			}
		} else if !failing {
			log.Error("liveness check failed; watchdog pings stopped", "err", err, "watchdog", interval)
			failing = true
		}
		if w.OnResult != nil {
			w.OnResult(err)
		}
	}
	// A hung check from the previous round is reported as still running until
	// it returns; round() waits for it up to the timeout each time.
	round()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			if running != nil {
				select {
				case err := <-running:
					running = nil
					_ = err // stale answer of a wedged round: check afresh below
				default:
					if !failing {
						log.Error("liveness check failed; watchdog pings stopped", "err", ErrCheckStillRunning)
						failing = true
					}
					if w.OnResult != nil {
						w.OnResult(ErrCheckStillRunning)
					}
					continue
				}
			}
			round()
		}
	}
}
