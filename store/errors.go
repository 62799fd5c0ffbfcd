package store

import "errors"

// Sentinel errors of package store. Callers test them with errors.Is; the
// returned errors wrap them with the file path and the detail.
var (
	// ErrLocked: another process holds the store file's lock and did not let go
	// within Options.LockTimeout. Nothing was changed; the caller may retry.
	ErrLocked = errors.New("store: file is locked by another process")

	// ErrSchemaTooNew: the file was written by a newer apimgw whose schema this
	// build does not understand. The file is left untouched (not quarantined),
	// so a downgrade never destroys a newer build's data.
	ErrSchemaTooNew = errors.New("store: file has a newer schema than this build understands")

	// ErrCorrupt: the file could not be read as an apimgw store (garbage,
	// truncated, failed consistency check, unknown layout). Open moves such a
	// file aside and starts fresh; the error appears in Status and the log.
	ErrCorrupt = errors.New("store: file is corrupt or unreadable")

	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store: closed")

	// ErrNoSnapshot: no config snapshot has been stored yet.
	ErrNoSnapshot = errors.New("store: no config snapshot stored")

	// ErrSnapshotNotFound: no snapshot with that id is kept (never existed or
	// pruned by the history limit).
	ErrSnapshotNotFound = errors.New("store: snapshot not found")

	// ErrSnapshotChecksum: a stored snapshot's bytes do not match the checksum
	// recorded when it was accepted; it is not handed out.
	ErrSnapshotChecksum = errors.New("store: snapshot checksum mismatch")

	// ErrRecordTooLarge: a telemetry record exceeds Options.MaxRecordBytes (or
	// the queue budget); it is dropped and counted under DropTooLarge.
	ErrRecordTooLarge = errors.New("store: telemetry record too large")

	// ErrAckAhead: Ack named a sequence that has not been committed yet.
	ErrAckAhead = errors.New("store: acknowledged sequence is beyond the committed queue")

	// ErrInvalidArgument: an argument is out of range (empty counter key, …).
	ErrInvalidArgument = errors.New("store: invalid argument")
)
