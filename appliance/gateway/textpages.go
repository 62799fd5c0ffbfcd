package gateway

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// releaseBinaryPages drops the gateway's own read-only file pages — the
// executable's text and read-only data — from its page tables
// (madvise MADV_DONTNEED on each read-only private mapping of
// /proc/self/exe) and reports how many bytes of mappings it advised.
//
// Start-up and every snapshot compile run code and read tables the request
// path never touches again (flag and env parsing, JSON decoding, the policy
// compiler, x509 roots), and the kernel maps 64 KiB around every fault, so a
// fresh gateway holds most of its 35 MB binary in RSS (docs/benchmarks.md,
// "Idle footprint"). The pages stay in the page cache, clean and shared:
// whatever runs next faults them back in from there (a minor fault, no I/O
// unless the kernel had reclaimed them anyway), so afterwards RSS holds the
// working set. Content cannot change: the mappings are read-only copies of
// the file, which MADV_DONTNEED restores from the file; writable mappings
// (.data, .bss, the heap) are never touched.
//
// The gateway calls it after each snapshot apply, once start-up has settled
// (startupSettle after ready) and when telemetry has been idle
// (idleRelease). APIMGW_KEEP_BINARY_PAGES=1 in the environment turns it off
// (for A/B measurements).
func releaseBinaryPages() (int, error) {
	if os.Getenv("APIMGW_KEEP_BINARY_PAGES") == "1" {
		return 0, nil
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	total := 0
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// "start-end perms offset dev inode path"
		f := bytes.Fields(sc.Bytes())
		if len(f) < 6 || string(f[5]) != exe || len(f[1]) < 4 || f[1][1] == 'w' || f[1][3] != 'p' {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); errno != 0 {
			return total, errno
		}
		total += int(end - start)
	}
	return total, sc.Err()
}

// startupSettle is how long after ready the gateway releases the binary's
// pages again: long enough for the goroutines start-up launched to have run
// their first code.
const startupSettle = time.Second

// idleRelease is telemetry.Options.IdleRelease for the gateway: 0 (the
// pipeline's default, 30 s) unless APIMGW_IDLE_RELEASE gives a positive
// duration, for tests that wait for it.
func idleRelease() (time.Duration, error) {
	s := os.Getenv("APIMGW_IDLE_RELEASE")
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("APIMGW_IDLE_RELEASE=%q is not a positive duration (e.g. 2s); using 30s", s)
	}
	return d, nil
}
