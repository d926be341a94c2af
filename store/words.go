package store

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// The free-text word index. Free text matches a substring of the lowercased
// text (title, details, location, address, mail addresses, attachment
// names); the index narrows the records that could hold it without changing
// that meaning:
//
//   - ix_word holds word 0x00 t | id for every distinct word of an
//     interaction: a maximal run of letters and digits, lowercased, of at
//     least minWordLen bytes, not a stop word;
//   - ix_word_vocab lists the distinct words in ix_word, so a query term can
//     be expanded to every indexed word containing it;
//   - a record with more than maxWordsPer such words, or a word longer than
//     maxWordLen, is listed under overflowWord instead: it is a candidate
//     for every query.
//
// Any letter-and-digit run r of a query term lies inside one word w of a
// matching record, so w contains r: the records under the vocab words
// containing r (and the overflow list) are a superset of the matches. The
// substring check on the decoded record keeps the results exact. A run
// shorter than minWordLen, of two digits, or contained in a stop word says
// nothing the index can answer; a term without a usable run is left to that
// check alone.
const (
	minWordLen   = 2
	maxWordLen   = 64
	maxWordsPer  = 256
	maxExpansion = 64 // vocab words one run may expand to before it is left to the scan
)

// Marker "words", which cannot be words (those hold letters and digits):
// overflowWord lists records whose words are not indexed and never will be;
// pendingWord lists records whose words are not indexed yet.
const (
	overflowWord = "\x01"
	pendingWord  = "\x02"
)

func isMarker(w []byte) bool { return len(w) == 1 && w[0] < ' ' }

// Interactions written one at a time (mail, the UI, the API) are not
// indexed word by word in their own commit: each word's entry lands on its
// own leaf page, and a message has dozens of words, so it would multiply
// the pages a small commit writes. They get one pendingWord entry instead
// (every query reads the pending records), and when pendingFlushAt have
// gathered, the commit that finds them indexes them together, sorted:
// common words then cost one page write for all of them, not one each.
// The bulk paths index directly.
const pendingFlushAt = 256

func pendingKey(ia *Interaction) []byte {
	return tiKey(strPrefix(pendingWord), ia.OccurredAt, ia.ID)
}

// flushPendingWords indexes the pending interactions' words once at least
// min are pending.
func flushPendingWords(tx *bolt.Tx, min int) error {
	b := tx.Bucket(ixWord)
	p := strPrefix(pendingWord)
	it := newPostingIter(b, p, 0, hit{math.MaxUint64, math.MaxUint64})
	var pending []hit
	for h, ok := it.next(); ok; h, ok = it.next() {
		pending = append(pending, h)
	}
	if it.err != nil {
		// Not this commit's business: its own writes may not touch the
		// damaged block. Check names it; touchpoint reindex rebuilds.
		return nil
	}
	if len(pending) == 0 || len(pending) < min {
		return nil
	}
	slices.Reverse(pending)
	items := tx.Bucket(bInteractions)
	var pb postingBatch
	for _, h := range pending {
		v := items.Get(h.id.key())
		if v == nil {
			continue // never left behind by a delete; skip safely
		}
		ia, err := decodeInteraction(h.id, v)
		if err != nil {
			// Never fail the writes this commit carries over one bad
			// record: list it as overflow (Check reports the record).
			pb.add(listWord, strPrefix(overflowWord), h)
			continue
		}
		pb.addWords(ia)
	}
	if err := postingRemove(b, p, pending); err != nil {
		return err
	}
	return pb.apply(tx)
}

// listedWords are the word lists ia belongs to: its indexed words, or the
// overflow list alone.
func listedWords(ia *Interaction) []string {
	words, overflow := indexWords(ia)
	if overflow {
		return []string{overflowWord}
	}
	return words
}

// stopWords are too common to be worth a posting each: most records hold
// them, so a term inside one of them (e.g. "the", "her", "out") finds a page
// of matches quickly by reading records newest first. Changing this list
// changes what ix_word must hold: it needs a migration rebuilding it.
var stopWords = []string{
	"about", "after", "all", "and", "any", "are", "been", "but", "can", "com",
	"for", "from", "had", "has", "have", "her", "him", "his", "not", "net",
	"org", "our", "she", "that", "the", "their", "them", "there", "they",
	"this", "was", "were", "will", "with", "www", "you", "your",
	"am", "an", "as", "at", "be", "by", "co", "do", "go", "he", "if", "in",
	"is", "it", "me", "my", "no", "of", "on", "or", "re", "so", "to", "up",
	"us", "we",
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// twoDigits reports a two-digit word ("10", "47"): too common in mail
// (times, dates, line numbers) to index, like a stop word; two-byte words
// with a letter ("ny", "uk") are indexed.
func twoDigits(w string) bool {
	return len(w) == 2 && '0' <= w[0] && w[0] <= '9' && '0' <= w[1] && w[1] <= '9'
}

// textFields are the strings free text searches, in matchText's order.
func textFields(ia *Interaction, fn func(string)) {
	fn(ia.Title)
	fn(ia.Details)
	fn(ia.Location)
	fn(ia.Address)
	if m := ia.Email; m != nil {
		fn(m.From)
		for _, s := range m.To {
			fn(s)
		}
		for _, s := range m.Cc {
			fn(s)
		}
		for _, a := range m.Attachments {
			fn(a.Name)
		}
	}
}

// stopWordSet is stopWords for lookups.
var stopWordSet = func() map[string]bool {
	m := make(map[string]bool, len(stopWords))
	for _, w := range stopWords {
		m[w] = true
	}
	return m
}()

// indexWords returns the distinct indexed words of ia, sorted, or overflow
// when they cannot all be indexed.
func indexWords(ia *Interaction) (words []string, overflow bool) {
	ws := wordSetPool.Get().(*wordSet)
	defer wordSetPool.Put(ws)
	ws.reset()
	textFields(ia, func(s string) {
		if !overflow && s != "" {
			overflow = ws.addText(s)
		}
	})
	if overflow {
		return nil, true
	}
	return ws.sorted(), false
}

// wordSet gathers the distinct indexable words of a text. Most of a
// mail's words are repeats, so each word is looked up in a small
// open-addressing table over one byte arena as it is split off: a repeat
// costs a hash and a compare, no allocation, no map look-up and no place
// in the final sort. Only a word seen for the first time is checked
// against the stop words.
type wordSet struct {
	slots   [wordSlots]int32  // 1 + index into ents; 0 is empty
	hashes  [wordSlots]uint32 // the hash of the word in the slot
	ents    []wordEnt
	arena   []byte // the words, lowercased, back to back
	scratch []byte
	indexed int // entries that are not skipped
}

type wordEnt struct {
	off, len int32
	skip     bool // a stop word or two digits: seen, not indexed
}

// wordSlots holds every entry a text can make before it overflows (at
// most maxWordsPer indexed words, the stop words and the 100 two-digit
// numbers) at under half load.
const wordSlots = 1024

var wordSetPool = sync.Pool{New: func() any { return new(wordSet) }}

func (ws *wordSet) reset() {
	clear(ws.slots[:])
	ws.ents, ws.arena, ws.indexed = ws.ents[:0], ws.arena[:0], 0
}

// addText adds the words of s; overflow reports a word longer than
// maxWordLen or more than maxWordsPer distinct indexed words. ASCII text,
// the usual case, is split and lowercased in one pass.
func (ws *wordSet) addText(s string) (overflow bool) {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !isWordRune(r) }) {
				if len(w) > maxWordLen {
					return true
				}
				ws.scratch = append(ws.scratch[:0], w...)
				if ws.add(ws.scratch) {
					return true
				}
			}
			return false
		}
	}
	w := ws.scratch[:0]
	for i := 0; i <= len(s); i++ {
		var c byte
		if i < len(s) {
			c = s[i]
		}
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			w = append(w, c)
		case 'A' <= c && c <= 'Z':
			w = append(w, c+'a'-'A')
		default:
			if len(w) > 0 && ws.add(w) {
				return true
			}
			w = w[:0]
			continue
		}
		if len(w) > maxWordLen {
			return true // a word too long: the scratch buffer stays small
		}
	}
	ws.scratch = w
	return false
}

// add adds one lowercased word (w is not kept); overflow as in addText.
func (ws *wordSet) add(w []byte) (overflow bool) {
	if len(w) < minWordLen {
		return false
	}
	if len(w) > maxWordLen {
		return true
	}
	h := uint32(2166136261) // FNV-1a
	for _, c := range w {
		h = (h ^ uint32(c)) * 16777619
	}
	i := h & (wordSlots - 1)
	for ; ws.slots[i] != 0; i = (i + 1) & (wordSlots - 1) {
		if ws.hashes[i] == h {
			e := ws.ents[ws.slots[i]-1]
			if bytes.Equal(ws.arena[e.off:e.off+e.len], w) {
				return false
			}
		}
	}
	skip := stopWordSet[string(w)] || twoDigits(string(w))
	ws.ents = append(ws.ents, wordEnt{off: int32(len(ws.arena)), len: int32(len(w)), skip: skip})
	ws.arena = append(ws.arena, w...)
	ws.slots[i], ws.hashes[i] = int32(len(ws.ents)), h
	if !skip {
		ws.indexed++
	}
	return ws.indexed > maxWordsPer
}

// sorted returns the indexed words in order, sharing one allocation.
func (ws *wordSet) sorted() []string {
	all := string(ws.arena)
	words := make([]string, 0, ws.indexed)
	for _, e := range ws.ents {
		if !e.skip {
			words = append(words, all[e.off:e.off+e.len])
		}
	}
	slices.Sort(words)
	return words
}

// wordOf returns the word of an ix_word key.
func wordOf(k []byte) []byte {
	if i := bytes.IndexByte(k, 0); i >= 0 {
		return k[:i]
	}
	return k
}

// syncVocab keeps ix_word_vocab equal to the words in ix_word after the
// given ix_word keys were added and removed. An existing word costs a Get,
// not a Put: rewriting it would dirty its page at every commit.
func syncVocab(tx *bolt.Tx, added, removed [][]byte) error {
	vocab := tx.Bucket(ixWordVocab)
	for _, k := range added {
		w := wordOf(k)
		if isMarker(w) || vocab.Get(w) != nil {
			continue
		}
		if err := vocab.Put(w, []byte{}); err != nil {
			return err
		}
	}
	if len(removed) == 0 {
		return nil
	}
	c := tx.Bucket(ixWord).Cursor()
	for _, k := range removed {
		w := wordOf(k)
		if isMarker(w) {
			continue
		}
		p := strPrefix(string(w))
		if k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p) {
			continue
		}
		if err := vocab.Delete(w); err != nil {
			return err
		}
	}
	return nil
}

// wordKeys picks the ix_word keys out of index entries.
func wordKeys(entries []indexEntry) [][]byte {
	var out [][]byte
	for _, e := range entries {
		if bytes.Equal(e.bucket, ixWord) {
			out = append(out, e.key)
		}
	}
	return out
}

// queryRuns returns the letter-and-digit runs of a text term the index can
// answer: long enough, and inside no stop word.
func queryRuns(text string) []string {
	var out []string
	for _, r := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !isWordRune(r) }) {
		if len(r) < minWordLen || twoDigits(r) || slices.ContainsFunc(stopWords, func(s string) bool { return strings.Contains(s, r) }) {
			continue
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// wordTerms turns the free-text terms into ix_word terms: one per usable
// run, whose prefixes are the vocab words containing it and the overflow
// and pending lists. A run that expands to too many words is left to the text check.
// The terms are necessary conditions only; matchText still decides.
func (f *Filter) wordTerms(tx *bolt.Tx) []term {
	var runs []string
	for _, t := range f.Text {
		for _, r := range queryRuns(t) {
			if !slices.Contains(runs, r) {
				runs = append(runs, r)
			}
		}
	}
	if len(runs) == 0 {
		return nil
	}
	vocab := tx.Bucket(ixWordVocab)
	if vocab == nil || tx.Bucket(ixWord) == nil {
		return nil // a read-only file from before the index, or its posting lists
	}
	exp := make([][][]byte, len(runs))
	err := vocab.ForEach(func(k, _ []byte) error {
		for i, r := range runs {
			if len(exp[i]) <= maxExpansion && bytes.Contains(k, []byte(r)) {
				exp[i] = append(exp[i], strPrefix(string(k)))
			}
		}
		return nil
	})
	if err != nil {
		return nil
	}
	var out []term
	for _, e := range exp {
		if len(e) > maxExpansion {
			continue
		}
		out = append(out, term{bucket: ixWord, prefixes: append(e, strPrefix(overflowWord), strPrefix(pendingWord))})
	}
	return out
}
