package store

import (
	"context"
	"encoding/binary"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// MailboxCursor is how far an IMAP mailbox has been read: every message with
// a UID up to UID, under this UIDVALIDITY, is stored.
type MailboxCursor struct {
	UIDValidity uint32
	UID         uint32
}

// MailboxCursor returns a mailbox's cursor (zero for a mailbox never read).
func (s *Store) MailboxCursor(name string) (MailboxCursor, error) {
	var c MailboxCursor
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bMailboxes).Get([]byte(name))
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return errCorrupt
		}
		c = MailboxCursor{binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:])}
		return nil
	})
	return c, err
}

func putCursor(tx *bolt.Tx, name string, c MailboxCursor) error {
	v := binary.BigEndian.AppendUint32(nil, c.UIDValidity)
	v = binary.BigEndian.AppendUint32(v, c.UID)
	return tx.Bucket(bMailboxes).Put([]byte(name), v)
}

// IngestBatch stores several received messages and moves a mailbox's cursor
// in one transaction: after a crash either all of them and the new cursor
// are there, or none (so the next poll fetches them again, and dedupe keeps
// any one from being logged twice). mailbox may be "" (no cursor).
func (s *Store) IngestBatch(ctx context.Context, ins []*Incoming, mailbox string, c MailboxCursor) ([]IngestResult, error) {
	if mailbox == "" && len(ins) == 0 {
		return nil, nil
	}
	preps := make([]*prepared, len(ins))
	for i, in := range ins {
		p, err := s.prepare(in)
		if err != nil {
			return nil, err
		}
		preps[i] = p
	}
	results := make([]IngestResult, len(ins))
	err := s.update(ctx, func(tx *bolt.Tx) error {
		for i, p := range preps {
			r, err := p.write(tx)
			if err != nil {
				return err
			}
			results[i] = r
		}
		if mailbox != "" {
			return putCursor(tx, mailbox, c)
		}
		return nil
	})
	return results, err
}

// ResetMailbox forgets a mailbox's cursor (its UIDVALIDITY changed: the
// folder is read again from the start; dedupe prevents doubles).
func (s *Store) ResetMailbox(ctx context.Context, name string, uidValidity uint32) error {
	if name == "" {
		return errors.New("store: mailbox name required")
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		return putCursor(tx, name, MailboxCursor{UIDValidity: uidValidity})
	})
}
