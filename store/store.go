package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// Options tune Open. The zero value is ready for production.
type Options struct {
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LockTimeout bounds the wait for the file lock; default 500ms, so a
	// second process fails well within a second.
	LockTimeout time.Duration
	// NoSync skips fsync on commit. For tests and benchmarks only: a crash
	// may lose acknowledged writes.
	NoSync bool
	// NoJournal makes Accept commit each message to the database before
	// it returns instead of journaling it (see journal.go). A journal left
	// by an earlier run is replayed at Open either way.
	NoJournal bool
	// MaxBatch caps how many writes share one commit; default 256.
	MaxBatch int
	// ReadOnly opens the file for reading (backups of a stopped daemon).
	ReadOnly bool
	// PasswordCost is the bcrypt cost; default bcrypt.DefaultCost. Tests
	// lower it.
	PasswordCost int
}

// Store is the database. All methods are safe for concurrent use.
type Store struct {
	db         *bolt.DB
	log        *slog.Logger
	now        func() time.Time
	bcryptCost int
	writes     chan *writeReq
	journal    *journal // nil: Accept is Ingest
	readOnly   bool
	// closeMu makes Close wait for senders: whileOpen holds it for reading
	// while it hands a write over, Close takes it to close the channels.
	closeMu sync.RWMutex
	// closing is set as Close begins, before it waits for closeMu: senders
	// check it under closeMu, the applier without (see isClosed).
	closing  atomic.Bool
	writerWG sync.WaitGroup
	// expected counts writes announced with Expect and not yet queued.
	expected atomic.Int64
	// exportWalkHook, when set (tests only), sees every interaction an
	// export's walk hands over.
	exportWalkHook func(*Interaction)
	// journalApplyHook, when set (tests only), runs before the applier
	// writes each group of journaled mail; an error fails that attempt.
	journalApplyHook func([]*prepared) error
	// journalReplayed is how many journaled messages Open applied.
	journalReplayed int
	// lingerExpired counts batches that waited the whole maxLinger for
	// announced writes that did not come in time.
	lingerExpired atomic.Int64

	idMu   sync.Mutex
	lastID ID

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the database at path, creates every bucket,
// runs pending migrations and starts the writer.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 500 * time.Millisecond
	}
	if opts.PasswordCost == 0 {
		opts.PasswordCost = bcrypt.DefaultCost
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  opts.LockTimeout,
		ReadOnly: opts.ReadOnly,
		NoSync:   opts.NoSync,
		// A large initial mmap (address space, not memory) keeps long read
		// transactions (CSV export) from blocking writers on a remap as the
		// file grows: 8 GiB holds several million interactions.
		InitialMmapSize: 8 << 30,
		FreelistType:    bolt.FreelistMapType,
		// The freelist is synced: without it every read-write open walks
		// the whole file to rebuild it (1.5 s at a million interactions).
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (is touchpoint serve running?)", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{
		db:         db,
		log:        opts.Logger,
		now:        opts.Now,
		bcryptCost: opts.PasswordCost,
		writes:     make(chan *writeReq, opts.MaxBatch),
		readOnly:   opts.ReadOnly,
	}
	if !opts.ReadOnly {
		if err := s.init(); err != nil {
			db.Close()
			return nil, err
		}
	}
	s.writerWG.Add(1)
	go s.writer(opts.MaxBatch)
	if err := s.openJournal(opts); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err == nil {
		err = migrate(s.db, s.now())
	}
	if err == nil {
		err = s.db.View(func(tx *bolt.Tx) error {
			// Ids must keep increasing across restarts even if the clock went back.
			for _, b := range [][]byte{bContacts, bUsers, bTokens, bInteractions, bCampaigns, bAudit, bRaw, bRawZ, bUnmatched} {
				if k, _ := tx.Bucket(b).Cursor().Last(); k != nil && keyID(k) > s.lastID {
					s.lastID = keyID(k)
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("initialise database: %w", err)
	}
	return nil
}

// Close stops taking writes, applies what the journal holds, stops the
// writer after the writes already queued and closes the files.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.closeMu.Lock() // the senders that saw closing unset are done
		if s.journal != nil {
			close(s.journal.in)
		}
		s.closeMu.Unlock()
		var jerr error
		if s.journal != nil {
			jerr = s.journal.close()
		}
		close(s.writes)
		s.writerWG.Wait()
		s.closeErr = errors.Join(s.db.Close(), jerr)
	})
	return s.closeErr
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.db.Path() }

// NewID returns a fresh time-ordered id.
func (s *Store) NewID() ID {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	return s.nextID()
}

// newIDs gives each item a new id, consecutive: batches written
// concurrently keep apart in the id-keyed buckets, whose pages are filled
// for appending.
func newIDs[T any](s *Store, items []T, set func(T, ID)) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	for _, it := range items {
		set(it, s.nextID())
	}
}

// nextID is NewID with idMu held.
func (s *Store) nextID() ID {
	ms := s.now().Sub(idEpoch).Milliseconds()
	if ms < 0 {
		ms = 0
	}
	id := ID(ms) << idSeqBits
	if id <= s.lastID {
		id = s.lastID + 1
	}
	s.lastID = id
	return id
}

// noteID makes later ids larger than id, an id handed out earlier.
func (s *Store) noteID(id ID) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	s.lastID = max(s.lastID, id)
}

// Backup writes a consistent copy of the database to w from one read
// transaction; writers carry on meanwhile.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFile writes a consistent copy to path atomically (writeFileAtomic).
func (s *Store) BackupFile(path string) (int64, error) {
	var n int64
	err := writeFileAtomic(path, ".touchpoint-backup-*", func(w io.Writer) error {
		var err error
		n, err = s.Backup(w)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("write backup %s: %w", path, err)
	}
	return n, nil
}

// whileOpen runs send (a hand-over to the writer or the journal) unless the
// store is closed; Close waits for it.
func (s *Store) whileOpen(send func()) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closing.Load() {
		return ErrClosed
	}
	send()
	return nil
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(tx *bolt.Tx) error) error { return s.db.View(fn) }

// update runs fn in the writer's next transaction and returns once that
// transaction is committed and synced (or failed). fn may run more than once
// (see the package doc) and must only touch the transaction and its own
// results.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{fn: fn, done: make(chan error, 1)}
	req.exp, _ = ctx.Value(expectKey{}).(*expectation)
	if err := s.whileOpen(func() { s.writes <- req }); err != nil {
		return err
	}
	req.exp.release() // the writer has most likely done so already
	// Once queued the write will run; wait for its outcome whatever ctx says,
	// so a caller never reports failure for data that was committed.
	return <-req.done
}
