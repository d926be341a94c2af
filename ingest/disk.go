package ingest

import (
	"sync"
	"syscall"
	"time"
)

// DiskSpace reports the free space in a directory (the data directory),
// asking the kernel at most once a second: the SMTP listener asks at every
// MAIL FROM, /healthz and /metrics at every probe. One DiskSpace may be
// shared by all of them.
type DiskSpace struct {
	Dir string

	mu    sync.Mutex
	at    time.Time
	bytes uint64
	err   error
}

// Free is the space left in Dir for an unprivileged writer.
func (d *DiskSpace) Free() (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.at) > time.Second {
		d.bytes, d.err = freeBytes(d.Dir)
		d.at = time.Now()
	}
	return d.bytes, d.err
}

// MinFreeBytes is the free space under which the SMTP listener refuses
// mail (452 at MAIL FROM): room for one message of the largest size
// accepted, and half again for the database to grow around it.
func MinFreeBytes(maxMessageBytes int64) uint64 {
	if maxMessageBytes <= 0 {
		return 0
	}
	return uint64(maxMessageBytes) * 3 / 2
}

func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
