package store

import (
	"cmp"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Filter selects interactions. Values within one field are alternatives (any
// may match); fields combine with AND. Strings are compared lowercase. A
// zero Filter matches everything.
type Filter struct {
	ContactIDs, OwnerIDs     []ID
	Types, Actions, Sources  []string
	NotContactIDs, NotOwners []ID
	NotTypes, NotActions     []string
	NotSources               []string
	From, To                 time.Time // From inclusive, To exclusive; zero: open
	Text, NotText            []string  // every Text term must occur, no NotText term may
	// None is set when a term could match nothing (an empty date range).
	None bool
	// noWordIndex makes free text read every candidate record, as before
	// the word index: tests compare the two.
	noWordIndex bool
}

// term is one indexed condition: the interaction's (t, id) must (or, when
// neg, must not) appear under one of the prefixes.
type term struct {
	bucket   []byte
	prefixes [][]byte
	neg      bool
}

func idPrefixes(ids []ID) [][]byte {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = id.key()
	}
	return out
}

func strPrefixes(vals []string) [][]byte {
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = strPrefix(strings.ToLower(v))
	}
	return out
}

// terms lists the indexed conditions, positive ones first in the order the
// planner prefers them as the driver.
func (f *Filter) terms() []term {
	var out []term
	add := func(b []byte, p [][]byte, neg bool) {
		if len(p) > 0 {
			out = append(out, term{b, p, neg})
		}
	}
	add(ixContactTime, idPrefixes(f.ContactIDs), false)
	add(ixOwner, idPrefixes(f.OwnerIDs), false)
	add(ixAction, strPrefixes(f.Actions), false)
	add(ixType, strPrefixes(f.Types), false)
	add(ixSource, strPrefixes(f.Sources), false)
	add(ixContactTime, idPrefixes(f.NotContactIDs), true)
	add(ixOwner, idPrefixes(f.NotOwners), true)
	add(ixAction, strPrefixes(f.NotActions), true)
	add(ixType, strPrefixes(f.NotTypes), true)
	add(ixSource, strPrefixes(f.NotSources), true)
	return out
}

// plan picks the driver, the index walked in time order, and the checks made
// on each candidate. Without free text, the positive term with the fewest
// prefixes drives (the first one on a tie: contact, owner, action, type,
// source); with none, the time index drives. Free text adds word terms
// (store/words.go), whose size says nothing from the prefix count: then the
// positive term with the fewest entries in the date range drives, counted
// up to probeCap each.
func (f *Filter) plan(tx *bolt.Tx, lo uint64, hi hit) (driver term, checks []term, err error) {
	all := f.terms()
	var words []term
	if !f.noWordIndex {
		words = f.wordTerms(tx)
	}
	all = append(all, words...)
	best, bestN := -1, 0
	for i, t := range all {
		if t.neg {
			continue
		}
		if len(words) == 0 {
			if best < 0 || len(t.prefixes) < len(all[best].prefixes) {
				best = i
			}
			continue
		}
		n, err := probe(tx, t, lo, hi, probeCap)
		if err != nil {
			return term{}, nil, err
		}
		if best < 0 || n < bestN {
			best, bestN = i, n
		}
	}
	if bestN == probeCap {
		// Every term is common at first sight: a rare word under several
		// common filters still drives far better than the first filter,
		// so look further.
		bestN = probeCapMore
		for i, t := range all {
			if t.neg {
				continue
			}
			n, err := probe(tx, t, lo, hi, probeCapMore)
			if err != nil {
				return term{}, nil, err
			}
			if n < bestN {
				best, bestN = i, n
			}
		}
	}
	if best < 0 {
		return term{bucket: ixTime, prefixes: [][]byte{nil}}, all, nil
	}
	return all[best], append(all[:best:best], all[best+1:]...), nil
}

// probeCap bounds the entries counted per term when planning; when every
// term reaches it, they are counted again up to probeCapMore (about a
// millisecond each).
const (
	probeCap     = 2000
	probeCapMore = 50_000
)

// probe counts t's entries between lo and hi, up to max.
func probe(tx *bolt.Tx, t term, lo uint64, hi hit, max int) (int, error) {
	w := newWalker(tx, t, lo, hi)
	n := 0
	for ; n < max; n++ {
		if _, ok := w.next(); !ok {
			break
		}
	}
	return n, w.err()
}

// hit is one index position: an interaction's time key and id.
type hit struct {
	t  uint64
	id ID
}

func (a hit) less(b hit) bool { return a.t < b.t || a.t == b.t && a.id < b.id }

// walker merges reverse walks over several prefixes of one index, newest
// first, without repeats. It stops at the first damaged posting block
// (err), so a result is never silently short.
type walker struct {
	its     []revIter
	heads   []hit
	ok      []bool
	last    hit
	started bool
	bad     error
}

// revIter walks one prefix of an index newest first; failed reports why
// it stopped early.
type revIter interface {
	next() (hit, bool)
	failed() error
}

func newWalker(tx *bolt.Tx, t term, lo uint64, hi hit) *walker {
	w := &walker{}
	b := tx.Bucket(t.bucket)
	for _, p := range t.prefixes {
		var it revIter
		if isPostings(t.bucket) {
			it = newPostingIter(b, p, lo, hi)
		} else {
			it = newKeyIter(b, p, lo, hi)
		}
		h, ok := it.next()
		w.bad = cmp.Or(w.bad, it.failed())
		w.its, w.heads, w.ok = append(w.its, it), append(w.heads, h), append(w.ok, ok)
	}
	return w
}

// next returns the newest position not yet returned.
func (w *walker) next() (hit, bool) {
	for {
		if w.bad != nil {
			return hit{}, false
		}
		best := -1
		for i := range w.heads {
			if w.ok[i] && (best < 0 || w.heads[best].less(w.heads[i])) {
				best = i
			}
		}
		if best < 0 {
			return hit{}, false
		}
		h := w.heads[best]
		w.heads[best], w.ok[best] = w.its[best].next()
		if w.bad = w.its[best].failed(); w.bad != nil {
			return hit{}, false
		}
		if w.started && h == w.last {
			continue // the same interaction under two prefixes
		}
		w.started, w.last = true, h
		return h, true
	}
}

// err reports a damaged posting block met on the way.
func (w *walker) err() error { return w.bad }

// keyIter walks an index of a key per entry (prefix | t | id → ∅, the
// unmatched queue's) newest first.
type keyIter struct {
	c      *bolt.Cursor
	prefix []byte
	lo     uint64
	k      []byte // the next key to return
}

func newKeyIter(b *bolt.Bucket, prefix []byte, lo uint64, hi hit) *keyIter {
	it := &keyIter{c: b.Cursor(), prefix: prefix, lo: lo}
	it.k, _ = below(it.c, blockKey(prefix, hi))
	return it
}

func (it *keyIter) next() (hit, bool) {
	h, ok := blockFirst(it.prefix, it.k)
	if !ok || h.t < it.lo {
		return hit{}, false
	}
	it.k, _ = it.c.Prev()
	return h, true
}

func (it *keyIter) failed() error { return nil }

// matchIndex reports whether (t, id) satisfies an indexed term.
func matchIndex(tx *bolt.Tx, t term, h hit) (bool, error) {
	b := tx.Bucket(t.bucket)
	found := false
	for _, p := range t.prefixes {
		ok, err := postingHas(b, p, h)
		if err != nil {
			return false, err
		}
		if found = ok; found {
			break
		}
	}
	return found != t.neg, nil
}

// matchIndexes reports whether (t, id) satisfies every term.
func matchIndexes(tx *bolt.Tx, terms []term, h hit) (bool, error) {
	for _, t := range terms {
		if ok, err := matchIndex(tx, t, h); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

// matchText reports whether the interaction's text holds every Text term and
// no NotText term, case-insensitively.
func (f *Filter) matchText(ia *Interaction) bool {
	if len(f.Text) == 0 && len(f.NotText) == 0 {
		return true
	}
	var sb strings.Builder
	for _, s := range []string{ia.Title, ia.Details, ia.Location, ia.Address} {
		sb.WriteString(s)
		sb.WriteByte('\n')
	}
	if m := ia.Email; m != nil {
		sb.WriteString(m.From)
		sb.WriteByte('\n')
		sb.WriteString(strings.Join(m.To, "\n"))
		sb.WriteByte('\n')
		sb.WriteString(strings.Join(m.Cc, "\n"))
		sb.WriteByte('\n')
		for _, a := range m.Attachments {
			sb.WriteString(a.Name)
			sb.WriteByte('\n')
		}
	}
	hay := strings.ToLower(sb.String())
	for _, t := range f.Text {
		if !strings.Contains(hay, t) {
			return false
		}
	}
	for _, t := range f.NotText {
		if strings.Contains(hay, t) {
			return false
		}
	}
	return true
}

// each calls fn for every interaction matching f, newest first, starting
// after cur, until fn returns false or an error.
func (f *Filter) each(tx *bolt.Tx, cur *cursor, fn func(*Interaction) (bool, error)) error {
	if f.None {
		return nil
	}
	if !hasPostings(tx) {
		return ErrOldIndexes
	}
	lo := uint64(0)
	if !f.From.IsZero() {
		lo = timeKey(f.From)
	}
	hi := hit{math.MaxUint64, math.MaxUint64}
	if !f.To.IsZero() {
		hi = hit{timeKey(f.To), 0}
	}
	if cur != nil && (hit{cur.t, cur.id}).less(hi) {
		hi = hit{cur.t, cur.id}
	}
	driver, checks, err := f.plan(tx, lo, hi)
	if err != nil {
		return err
	}
	w := newWalker(tx, driver, lo, hi)
	items := tx.Bucket(bInteractions)
	for {
		h, ok := w.next()
		if !ok {
			return w.err()
		}
		pass, err := matchIndexes(tx, checks, h)
		if err != nil {
			return err
		}
		if pass {
			v := items.Get(h.id.key())
			if v == nil {
				continue // index without record: never written that way, but skip safely
			}
			ia, err := decodeInteraction(h.id, v)
			if err != nil {
				return err
			}
			if !f.matchText(ia) {
				continue
			}
			more, err := fn(ia)
			if err != nil || !more {
				return err
			}
		}
	}
}

// ListInteractions returns one page of interactions matching f, newest first
// (by occurred_at, then id), and the cursor of the next page ("" at the end).
func (s *Store) ListInteractions(f Filter, limit int, after string) ([]*Interaction, string, error) {
	limit = clampLimit(limit)
	c, ok, err := parseCursor(after)
	if err != nil {
		return nil, "", err
	}
	var cp *cursor
	if ok {
		cp = &c
	}
	var out []*Interaction
	var next string
	err = s.view(func(tx *bolt.Tx) error {
		return f.each(tx, cp, func(ia *Interaction) (bool, error) {
			if len(out) == limit {
				last := out[len(out)-1]
				next = cursor{timeKey(last.OccurredAt), last.ID}.String()
				return false, nil
			}
			out = append(out, ia)
			return true, nil
		})
	})
	return out, next, err
}

// Timeline is a contact's interactions, newest first.
func (s *Store) Timeline(contact ID, limit int, after string) ([]*Interaction, string, error) {
	return s.ListInteractions(Filter{ContactIDs: []ID{contact}}, limit, after)
}

// ExportContact is what an export row shows of a contact: its name and
// first email address and phone number.
type ExportContact struct {
	ID                 ID
	Name, Email, Phone string
}

// exportContactCache bounds the contacts an export keeps. An entry is ~150
// bytes with its map slot (the three texts share one allocation). At 1M
// interactions over 100,000 contacts, 32,768 entries gave 275k rows/s with
// 44 MiB of heap growth; 65,536 and more gained nothing more but grew the
// heap past 64 MiB (the collector lets the heap reach five times the live
// data), and 16,384 full contacts gave 208k rows/s.
const exportContactCache = 32768

// contactCache keeps export contacts for one read transaction, at most max.
type contactCache struct {
	tx  *bolt.Tx
	max int
	m   map[ID]*ExportContact
}

func newContactCache(tx *bolt.Tx, max int) *contactCache {
	return &contactCache{tx: tx, max: max, m: make(map[ID]*ExportContact, min(max, 1024))}
}

func (cc *contactCache) get(id ID) (*ExportContact, error) {
	if c := cc.m[id]; c != nil {
		return c, nil
	}
	full, err := getContact(cc.tx, id)
	if err != nil {
		return nil, err
	}
	email, phone := "", ""
	if len(full.Emails) > 0 {
		email = full.Emails[0]
	}
	if len(full.Phones) > 0 {
		phone = full.Phones[0]
	}
	all := full.Name + email + phone // one allocation, close together in memory
	n, e := len(full.Name), len(full.Name)+len(email)
	c := &ExportContact{ID: id, Name: all[:n], Email: all[n:e], Phone: all[e:]}
	if len(cc.m) >= cc.max {
		// Evict one at random (map order): contacts with many rows
		// stay, as they are asked for again and again.
		for k := range cc.m {
			delete(cc.m, k)
			break
		}
	}
	cc.m[id] = c
	return c, nil
}

// exportBatch is how many rows the export's walk hands over at a time.
const exportBatch = 256

// exportRow is one interaction of an export with its contacts.
type exportRow struct {
	ia       *Interaction
	contacts []*ExportContact
}

// ExportInteractions calls fn for every interaction matching f, newest first,
// with what a row shows of its contacts, all from one read transaction so
// the set is consistent.
// The walk (index, record, decoding, contacts) runs on its own goroutine a
// few batches ahead of fn, so an export uses two cores; memory stays flat
// however many match (at most four batches exist at a time). fn is called
// on the caller's goroutine, in order, and may keep what it is given. An
// error from fn stops the walk and is returned.
func (s *Store) ExportInteractions(f Filter, fn func(ia *Interaction, contacts []*ExportContact) error) error {
	batches := make(chan []exportRow, 2)
	stop := make(chan struct{})
	var walkErr error
	go func() {
		defer close(batches)
		defer func() {
			// bbolt panics on a damaged page: on this goroutine that would
			// end the process, so it becomes the export's error.
			if p := recover(); p != nil {
				walkErr = fmt.Errorf("store: export walk failed: %v\n%s", p, debug.Stack())
			}
		}()
		walkErr = s.view(func(tx *bolt.Tx) error {
			cache := newContactCache(tx, exportContactCache)
			var batch []exportRow
			var flat []*ExportContact // the batch's contacts, sliced per row
			send := func() bool {
				select {
				case <-stop:
					return false
				default:
				}
				select {
				case batches <- batch:
					batch, flat = nil, nil
					return true
				case <-stop:
					return false
				}
			}
			err := f.each(tx, nil, func(ia *Interaction) (bool, error) {
				select {
				case <-stop: // the consumer failed: stop walking at once
					return false, nil
				default:
				}
				if s.exportWalkHook != nil {
					s.exportWalkHook(ia)
				}
				if batch == nil {
					batch = make([]exportRow, 0, exportBatch)
					flat = make([]*ExportContact, 0, 2*exportBatch)
				}
				start := len(flat)
				for _, id := range ia.ContactIDs {
					c, err := cache.get(id)
					if err != nil {
						return false, err
					}
					flat = append(flat, c)
				}
				batch = append(batch, exportRow{ia, flat[start:len(flat):len(flat)]})
				if len(batch) == exportBatch {
					return send(), nil
				}
				return true, nil
			})
			if err == nil && len(batch) > 0 {
				send()
			}
			return err
		})
	}()
	stopped := false
	defer func() {
		// On an error (or a panic in fn) the walk is told to stop, and
		// its transaction is closed before this returns.
		if !stopped {
			close(stop)
		}
		for range batches {
		}
	}()
	for b := range batches {
		for _, r := range b {
			if err := fn(r.ia, r.contacts); err != nil {
				stopped = true
				close(stop)
				return err
			}
		}
	}
	return walkErr
}
