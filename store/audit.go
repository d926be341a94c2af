package store

import (
	"maps"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Audit actions.
const (
	AuditContactErase = "contact.erase"
)

// Actor is who did something worth auditing: a user (through the web
// session or a token tied to them), a bare API token, or both.
type Actor struct {
	UserID  ID
	TokenID ID
	Name    string
}

// AuditEntry records an administrative act that cannot be undone. The log
// is append-only: nothing in Touchpoint edits or deletes an entry.
type AuditEntry struct {
	ID           ID        `json:"id"`
	At           time.Time `json:"at"`
	Action       string    `json:"action"`
	ActorID      ID        `json:"actor_id,omitempty"`
	ActorTokenID ID        `json:"actor_token_id,omitempty"`
	ActorName    string    `json:"actor_name"`
	// The subject: for contact.erase, the erased contact's id and name.
	ContactID   ID     `json:"contact_id,omitempty"`
	ContactName string `json:"contact_name,omitempty"`
	// Counts says how much went, by kind (interactions_deleted, ...).
	Counts map[string]int `json:"counts"`
}

const auditV1 = 1

func (a *AuditEntry) encode() []byte {
	var e encoder
	e.byte(auditV1)
	e.time(a.At)
	e.str(a.Action)
	e.id(a.ActorID)
	e.id(a.ActorTokenID)
	e.str(a.ActorName)
	e.id(a.ContactID)
	e.str(a.ContactName)
	keys := slices.Sorted(maps.Keys(a.Counts))
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.varint(int64(a.Counts[k]))
	}
	return e.b
}

func decodeAudit(id ID, b []byte) (*AuditEntry, error) {
	d := decoder{b: b}
	if d.byte() != auditV1 {
		return nil, errCorrupt
	}
	a := &AuditEntry{ID: id}
	a.At = d.time()
	a.Action = d.str()
	a.ActorID = d.id()
	a.ActorTokenID = d.id()
	a.ActorName = d.str()
	a.ContactID = d.id()
	a.ContactName = d.str()
	n := d.count()
	a.Counts = make(map[string]int, n)
	for range n {
		k := d.str()
		a.Counts[k] = int(d.varint())
	}
	return a, d.err
}

// putAudit appends a to the log in tx, so the entry commits with the act.
func putAudit(tx *bolt.Tx, a *AuditEntry) error {
	return tx.Bucket(bAudit).Put(a.ID.key(), a.encode())
}

// Audit lists the audit log newest first; cursor is the next_cursor of the
// previous page.
func (s *Store) Audit(limit int, cursor string) ([]*AuditEntry, string, error) {
	return newestFirst(s, bAudit, limit, cursor, decodeAudit)
}
