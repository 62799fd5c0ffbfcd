package status

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/load"
	"github.com/shirou/gopsutil/v3/mem"
)

// HostFacts describes the machine the gateway runs on.
type HostFacts struct {
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Platform string `json:"platform,omitempty"` // e.g. "debian 12.8"
	Kernel   string `json:"kernel,omitempty"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	// CPUPercent is the busy share of all CPUs since the previous collection
	// (since boot for the first one), 0–100.
	CPUPercent      float64   `json:"cpuPercent"`
	Load1           float64   `json:"load1"`
	Load5           float64   `json:"load5"`
	Load15          float64   `json:"load15"`
	MemTotal        uint64    `json:"memTotal"`
	MemAvailable    uint64    `json:"memAvailable"`
	MemUsedPercent  float64   `json:"memUsedPercent"`
	DiskPath        string    `json:"diskPath"`
	DiskTotal       uint64    `json:"diskTotal"`
	DiskFree        uint64    `json:"diskFree"`
	DiskUsedPercent float64   `json:"diskUsedPercent"`
	BootTime        time.Time `json:"bootTime"`
	CollectedAt     time.Time `json:"collectedAt"`
	// Errors lists what could not be read (e.g. /proc hidden by a sandbox).
	Errors []string `json:"errors,omitempty"`
}

// HostCollector reads host facts with gopsutil and caches them for a short
// time, so a burst of page views and scrapes costs one read of /proc. Safe for
// concurrent use.
type HostCollector struct {
	ttl  time.Duration
	now  func() time.Time
	mu   sync.Mutex
	last HostFacts
	path string
	// previous CPU sample, for the busy share between two collections
	prevBusy, prevTotal float64
	static              *HostFacts // hostname, platform, kernel, boot time: read once
}

// NewHostCollector reports the disk that holds path (the store file, or its
// directory if the file does not exist yet; "/" if empty) and caches facts for
// ttl (2s if 0).
func NewHostCollector(path string, ttl time.Duration) *HostCollector {
	if ttl <= 0 {
		ttl = 2 * time.Second
	}
	return &HostCollector{ttl: ttl, now: time.Now, path: path}
}

// Collect returns the cached facts, or reads them again when older than the
// TTL. Failures are listed in Errors; the other facts are still filled.
func (h *HostCollector) Collect(ctx context.Context) HostFacts {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if !h.last.CollectedAt.IsZero() && now.Sub(h.last.CollectedAt) < h.ttl {
		return h.last
	}
	f := HostFacts{OS: runtime.GOOS, Arch: runtime.GOARCH, CollectedAt: now}
	var errs []string
	fail := func(what string, err error) { errs = append(errs, what+": "+err.Error()) }

	if h.static == nil {
		st := HostFacts{}
		st.Hostname, _ = os.Hostname()
		if info, err := host.InfoWithContext(ctx); err == nil {
			st.Platform = strings.TrimSpace(info.Platform + " " + info.PlatformVersion)
			st.Kernel = info.KernelVersion
			st.BootTime = time.Unix(int64(info.BootTime), 0)
		} else {
			fail("host", err)
		}
		h.static = &st
	}
	f.Hostname, f.Platform, f.Kernel, f.BootTime = h.static.Hostname, h.static.Platform, h.static.Kernel, h.static.BootTime

	if n, err := cpu.CountsWithContext(ctx, true); err == nil {
		f.CPUs = n
	} else {
		f.CPUs = runtime.NumCPU()
	}
	if ts, err := cpu.TimesWithContext(ctx, false); err == nil && len(ts) == 1 {
		t := ts[0]
		busy := t.User + t.System + t.Nice + t.Irq + t.Softirq + t.Steal
		total := busy + t.Idle + t.Iowait
		db, dt := busy-h.prevBusy, total-h.prevTotal
		if dt > 0 {
			f.CPUPercent = clamp(100 * db / dt)
		}
		h.prevBusy, h.prevTotal = busy, total
	} else if err != nil {
		fail("cpu", err)
	}
	if l, err := load.AvgWithContext(ctx); err == nil {
		f.Load1, f.Load5, f.Load15 = l.Load1, l.Load5, l.Load15
	} else {
		fail("load", err)
	}
	if m, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		f.MemTotal, f.MemAvailable = m.Total, m.Available
		if m.Total > 0 {
			f.MemUsedPercent = clamp(100 * float64(m.Total-m.Available) / float64(m.Total))
		}
	} else {
		fail("memory", err)
	}
	f.DiskPath = diskPath(h.path)
	if d, err := disk.UsageWithContext(ctx, f.DiskPath); err == nil {
		f.DiskTotal, f.DiskFree, f.DiskUsedPercent = d.Total, d.Free, clamp(d.UsedPercent)
	} else {
		fail("disk", err)
	}
	f.Errors = errs
	h.last = f
	return f
}

// diskPath is the nearest existing ancestor of p (the store file may not exist
// yet), or "/".
func diskPath(p string) string {
	if p == "" {
		return "/"
	}
	p = filepath.Clean(p)
	for {
		if _, err := os.Stat(p); err == nil || !errors.Is(err, os.ErrNotExist) {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "/"
		}
		p = parent
	}
}

func clamp(v float64) float64 {
	switch {
	case v < 0:
		return 0
	case v > 100:
		return 100
	}
	return v
}
