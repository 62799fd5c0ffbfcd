// Package systemd holds the Go side of running under systemd: sd_notify
// (READY, STATUS, RELOADING, STOPPING), the watchdog, and journal logging. The unit
// files live beside this file.
package systemd
