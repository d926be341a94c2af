package store

import (
	"bytes"
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Counts an erasure reports (AuditEntry.Counts keys).
const (
	EraseInteractionsDeleted  = "interactions_deleted"
	EraseInteractionsDetached = "interactions_detached"
	EraseRawMessages          = "raw_messages_deleted"
	EraseUnmatched            = "unmatched_deleted"
	EraseCampaignLinks        = "campaign_links_deleted"
	EraseDedupeEntries        = "dedupe_entries_deleted"
	EraseMembersUnlinked      = "members_unlinked"
)

// EraseContact removes a contact and what the store keeps about them, for a
// privacy request, in one transaction with its audit entry:
//
//   - the contact and its index entries (addresses, domains, name words);
//   - every interaction on this contact alone, with its raw message; an
//     interaction shared with other contacts only loses this contact;
//   - unmatched messages that became one of the deleted interactions, and
//     those not logged (pending or discarded) from, to or copied to one of
//     the contact's addresses, with their raw messages;
//   - the dedupe entries of everything deleted (a later redelivery of the
//     same message is new mail);
//   - the contact's campaign recipient links (and unmatched recipient
//     entries of its addresses); the campaign's counts follow;
//   - members of an erased organisation lose the link.
//
// The audit entry records who, when, the contact's id and name and the
// counts; it is returned.
func (s *Store) EraseContact(ctx context.Context, id ID, by Actor) (*AuditEntry, error) {
	now := s.now().UTC()
	auditID := s.NewID()
	var out *AuditEntry
	err := s.update(ctx, func(tx *bolt.Tx) error {
		c, err := getContact(tx, id)
		if err != nil {
			return err
		}
		addrs := make(map[string]bool, len(c.Emails))
		for _, e := range c.Emails {
			addrs[e] = true
		}
		rm, err := removeContact(tx, c, now)
		if err != nil {
			return err
		}
		e := &eraser{tx: tx, addrs: addrs, interactions: map[ID]bool{}, unmatched: map[ID]bool{}}
		for _, ia := range rm.deleted {
			e.interactions[ia.ID] = true
			if ia.Email != nil {
				if err := e.deleteRaw(ia.Email.RawID); err != nil {
					return err
				}
			}
		}
		if err := e.eraseUnmatched(); err != nil {
			return err
		}
		if err := e.eraseDedupe(); err != nil {
			return err
		}
		if err := e.eraseCampaignLinks(c.ID, now); err != nil {
			return err
		}
		a := &AuditEntry{ID: auditID, At: now, Action: AuditContactErase,
			ActorID: by.UserID, ActorTokenID: by.TokenID, ActorName: by.Name,
			ContactID: c.ID, ContactName: c.Name,
			Counts: map[string]int{
				EraseInteractionsDeleted:  len(rm.deleted),
				EraseInteractionsDetached: rm.detached,
				EraseMembersUnlinked:      rm.members,
				EraseRawMessages:          e.raws,
				EraseUnmatched:            len(e.unmatched),
				EraseCampaignLinks:        e.campaignLinks,
				EraseDedupeEntries:        e.dedupe,
			}}
		out = a
		return putAudit(tx, a)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eraser is one erasure's state inside its transaction.
type eraser struct {
	tx    *bolt.Tx
	addrs map[string]bool // the contact's addresses
	// What was deleted, for the dedupe entries pointing at it.
	interactions, unmatched map[ID]bool
	raws, dedupe            int
	campaignLinks           int
}

func (e *eraser) deleteRaw(id ID) error {
	if id == 0 {
		return nil
	}
	found, err := deleteRaw(e.tx, id)
	if found {
		e.raws++
	}
	return err
}

// mentions says whether an unmatched message came from, went to or was
// copied to one of the contact's addresses.
func (e *eraser) mentions(u *Unmatched) bool {
	if len(e.addrs) == 0 {
		return false
	}
	list := append([]string(nil), u.Unknown...)
	if m := u.Draft.Email; m != nil {
		list = append(append(append(list, m.From), m.To...), m.Cc...)
	}
	for _, a := range list {
		if n, ok := NormalizeEmail(a); ok && e.addrs[n] {
			return true
		}
	}
	return false
}

// eraseUnmatched deletes the queue entries that mention the contact, or
// became one of the deleted interactions. A message resolved into an
// interaction that stays (shared with other contacts) stays with it.
func (e *eraser) eraseUnmatched() error {
	var gone []*Unmatched
	err := e.tx.Bucket(bUnmatched).ForEach(func(k, v []byte) error {
		u, err := decodeUnmatched(keyID(k), v)
		if err != nil {
			return err
		}
		kept := u.Status == StatusResolved && !e.interactions[u.InteractionID] &&
			e.tx.Bucket(bInteractions).Get(u.InteractionID.key()) != nil
		if kept || !e.interactions[u.InteractionID] && !e.mentions(u) {
			return nil
		}
		gone = append(gone, u)
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range gone {
		if err := deleteIndex(e.tx, unmatchedIndex(u)); err != nil {
			return err
		}
		if err := e.tx.Bucket(bUnmatched).Delete(u.ID.key()); err != nil {
			return err
		}
		if u.Draft.Email != nil {
			if err := e.deleteRaw(u.Draft.Email.RawID); err != nil {
				return err
			}
		}
		e.unmatched[u.ID] = true
	}
	return nil
}

// eraseDedupe deletes the dedupe entries that point at a deleted
// interaction or unmatched message. The index is keyed by message, not by
// what it points at, so this walks it; erasure is rare.
func (e *eraser) eraseDedupe() error {
	if len(e.interactions) == 0 && len(e.unmatched) == 0 {
		return nil
	}
	var keys [][]byte
	err := e.tx.Bucket(ixDedupe).ForEach(func(k, v []byte) error {
		if len(v) != 9 {
			return nil
		}
		id := keyID(v[1:])
		if v[0] == dedupeInteraction && e.interactions[id] || v[0] == dedupeUnmatched && e.unmatched[id] {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := e.tx.Bucket(ixDedupe).Delete(k); err != nil {
			return err
		}
	}
	e.dedupe = len(keys)
	return nil
}

// eraseCampaignLinks removes the contact from every campaign's recipient
// records: its link (campaign | contact), the recipient addresses logged on
// it, and the unmatched recipient entries of its addresses. The campaign's
// counts drop accordingly (its interactions, on this contact alone, are
// gone already).
func (e *eraser) eraseCampaignLinks(contact ID, now time.Time) error {
	camps := e.tx.Bucket(bCampaigns)
	links, rcpts := e.tx.Bucket(ixCampaignContact), e.tx.Bucket(ixCampaignRcpt)
	var ids []ID
	err := camps.ForEach(func(k, _ []byte) error {
		ids = append(ids, keyID(k))
		return nil
	})
	if err != nil {
		return err
	}
	ck := contact.key()
	for _, cid := range ids {
		var drop [][]byte
		logged, unmatched := 0, 0
		link := append(cid.key(), ck...)
		if links.Get(link) != nil {
			logged = 1
			p := cid.key()
			cur := rcpts.Cursor()
			for k, v := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
				if len(v) == 16 && bytes.Equal(v[8:], ck) {
					drop = append(drop, bytes.Clone(k))
				}
			}
		}
		for a := range e.addrs {
			k := append(cid.key(), a...)
			if v := rcpts.Get(k); len(v) == 1 && v[0] == 'u' {
				drop = append(drop, k)
				unmatched++
			}
		}
		if logged == 0 && len(drop) == 0 {
			continue
		}
		if logged == 1 {
			if err := links.Delete(link); err != nil {
				return err
			}
		}
		for _, k := range drop {
			if err := rcpts.Delete(k); err != nil {
				return err
			}
		}
		c, err := getCampaign(e.tx, cid)
		if err != nil {
			return err
		}
		c.Logged -= logged
		c.Unmatched -= unmatched
		c.Recipients -= logged + unmatched
		c.UpdatedAt = now
		if err := camps.Put(cid.key(), c.encode()); err != nil {
			return err
		}
		e.campaignLinks += logged + len(drop)
	}
	return nil
}
