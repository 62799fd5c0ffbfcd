package store

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// ReleaseMapped tells the kernel that the process no longer needs the pages
// of the store file it has mapped (madvise MADV_DONTNEED): they stop counting
// in the gateway's RSS, and whatever is read again later is faulted back in
// from the page cache or the file. bbolt maps the file read-only and shared,
// so nothing is lost. It returns the bytes of mapping released (the file's
// size).
//
// Why: a telemetry backlog of many MiB, once delivered and deleted, leaves
// its pages in the file's mapping, counted in RSS for as long as the process
// lives. The agent calls this when the queue has drained.
//
// The call runs inside a read transaction: bbolt remaps (on growth) only
// with every read transaction finished, so the range cannot be unmapped or
// reused while it is advised.
func (s *Store) ReleaseMapped() (int64, error) {
	var size int64
	err := s.view(func(tx *bolt.Tx) error {
		info := s.db.Info()
		size = tx.Size()
		if info.Data == 0 || size <= 0 {
			return nil
		}
		// The mapping is not Go memory: pass its address as it is.
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, info.Data, uintptr(size), syscall.MADV_DONTNEED); e != 0 {
			return e
		}
		return nil
	})
	return size, err
}
