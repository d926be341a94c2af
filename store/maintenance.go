package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Offline maintenance: restoring a backup and compacting the file. Both
// replace the database file, so both need the daemon stopped; both take
// bbolt's exclusive lock on the file (ErrLocked while a daemon runs), put
// the new file in place only once it verifies, and keep the old one aside
// under a name of their own.

// CheckFile opens the database at path read-only and runs Check on it.
func CheckFile(path string) error {
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		return err
	}
	err = s.Check()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Restore puts a copy of the backup at backup in place of the database at
// path. The copy is verified with Check first; the current file, if any,
// is kept as the returned aside path (path.before-restore-TIMESTAMP).
func Restore(path, backup string) (aside string, err error) {
	tmp, err := copyBeside(path, backup)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp) // gone once renamed
	if err := CheckFile(tmp); err != nil {
		return "", fmt.Errorf("backup %s does not verify; nothing changed:\n%w", backup, err)
	}
	unlock, err := lockFile(path)
	if err != nil {
		return "", err
	}
	defer unlock()
	// The journal belongs to the database it was written beside: it goes
	// aside first (the database's aside name plus .journal), so no crash
	// or start in between can replay its mail into the backup.
	stamp := asideStamp()
	journal, journalAside := path+journalSuffix, path+".before-restore-"+stamp+journalSuffix
	moved := true
	if err := os.Rename(journal, journalAside); errors.Is(err, os.ErrNotExist) {
		moved = false
	} else if err != nil {
		return "", fmt.Errorf("move the journal aside; nothing changed: %w", err)
	}
	if aside, err = replaceFile(path, tmp, "before-restore", stamp); err != nil {
		if moved {
			os.Rename(journalAside, journal) // the old database stays, with its journal
		}
		return "", err
	}
	return aside, nil
}

// CompactResult is what Compact did.
type CompactResult struct {
	Before, After int64  // file sizes in bytes
	Aside         string // the original, when kept
}

// Compact rewrites the database at path into a fresh file with bbolt's
// Compact (live data only, pages packed), verifies the copy (Check, and
// the same number of keys in every bucket), then puts it in place. The
// original is kept as Aside (path.before-compact-TIMESTAMP) when keepOld,
// deleted otherwise; a copy that does not verify is deleted and the
// original left untouched.
func Compact(path string, keepOld bool) (CompactResult, error) {
	var res CompactResult
	// Read-write: bbolt's exclusive lock, held until the new file is in
	// place, so no daemon starts on the old one meanwhile.
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, OpenFile: openExisting})
	if errors.Is(err, bolt.ErrTimeout) {
		return res, fmt.Errorf("%w: %s (is touchpoint serve running?)", ErrLocked, path)
	}
	if err != nil {
		return res, fmt.Errorf("open database %s: %w", path, err)
	}
	defer src.Close()
	st, err := os.Stat(path)
	if err != nil {
		return res, err
	}
	res.Before = st.Size()

	f, err := os.CreateTemp(filepath.Dir(path), ".touchpoint-compact-*")
	if err != nil {
		return res, fmt.Errorf("create the compacted file: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp) // gone once renamed
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return res, fmt.Errorf("open the compacted file: %w", err)
	}
	err = bolt.Compact(dst, src, 64<<20)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("compact %s: %w", path, err)
	}
	if err := CheckFile(tmp); err != nil {
		return res, fmt.Errorf("the compacted copy does not verify; the database is unchanged:\n%w", err)
	}
	if err := sameKeys(src, tmp); err != nil {
		return res, fmt.Errorf("the compacted copy does not verify; the database is unchanged: %w", err)
	}
	if st, err = os.Stat(tmp); err != nil {
		return res, err
	}
	res.After = st.Size()
	aside, err := replaceFile(path, tmp, "before-compact", asideStamp())
	if err != nil {
		return res, err
	}
	if keepOld {
		res.Aside = aside
	} else if err := os.Remove(aside); err != nil {
		return res, fmt.Errorf("remove the original: %w", err)
	}
	return res, nil
}

// openExisting opens the file without creating it: compacting a database
// that is not there is an error, not an empty file.
func openExisting(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag&^os.O_CREATE, perm)
}

// sameKeys compares the number of keys in every top-level bucket of src
// and of the file at path.
func sameKeys(src *bolt.DB, path string) error {
	dst, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer dst.Close()
	count := func(db *bolt.DB) (map[string]int, error) {
		n := map[string]int{}
		err := db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				n[string(name)] = b.Stats().KeyN
				return nil
			})
		})
		return n, err
	}
	want, err := count(src)
	if err != nil {
		return err
	}
	got, err := count(dst)
	if err != nil {
		return err
	}
	for name, w := range want {
		if got[name] != w {
			return fmt.Errorf("bucket %s: %d keys, the original has %d", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d buckets, the original has %d", len(got), len(want))
	}
	return nil
}

// copyBeside copies the file at from into a new temporary file in path's
// directory (so that a rename can put it in place).
func copyBeside(path, from string) (string, error) {
	in, err := os.Open(from)
	if err != nil {
		return "", err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	tmp, err := writeTemp(filepath.Dir(path), ".touchpoint-restore-*", func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", from, err)
	}
	return tmp, nil
}

// writeTemp writes a new file (mode 0600) in dir with fill, syncs it and
// returns its name; on failure nothing is left behind.
func writeTemp(dir, pattern string, fill func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o600)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// writeFileAtomic writes path with fill through a synced temporary file in
// the same directory (named by pattern), renamed into place, the directory
// synced: the file is there whole, or not at all.
func writeFileAtomic(path, pattern string, fill func(io.Writer) error) error {
	tmp, err := writeTemp(filepath.Dir(path), pattern, fill)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes the entries of dir (new files, renames) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// asideStamp is the time in the names of files moved aside.
func asideStamp() string { return time.Now().UTC().Format("20060102T150405Z") }

// lockFile takes the lock bbolt takes for a read-write Open on the file at
// path, without opening it as a database (it may be damaged: that may be
// why it is being restored). A missing file needs no lock.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (is touchpoint serve running?)", ErrLocked, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// replaceFile renames the file at path (if any) to path.TAG-TIMESTAMP,
// then next to path, and syncs the directory so both renames last. It
// returns the aside name ("" when there was no file at path).
func replaceFile(path, next, tag, stamp string) (aside string, err error) {
	if _, err := os.Stat(path); err == nil {
		aside = path + "." + tag + "-" + stamp
		if err := os.Rename(path, aside); err != nil {
			return "", fmt.Errorf("move the current database aside: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.Rename(next, path); err != nil {
		if aside != "" {
			os.Rename(aside, path) // put the original back
		}
		return "", fmt.Errorf("put the new database in place: %w", err)
	}
	// Both renames are done: a failed directory sync only leaves them
	// less durable, not undone.
	syncDir(filepath.Dir(path))
	return aside, nil
}
