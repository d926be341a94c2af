package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	bolt "go.etcd.io/bbolt"
)

func TestIndexWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ia       Interaction
		want     string
		overflow bool
	}{
		{"split and lowercased", Interaction{Title: "Call with DAVID re: the Etrog-box", Details: "etrog, etrog!"}, "[box call david etrog]", false},
		{"short and stop words left out", Interaction{Title: "We met at the shul and it was ok"}, "[met ok shul]", false},
		{"every text field", Interaction{Location: "Café Nova", Address: "12 Main Street", Email: &Email{
			From: "dina.levy@northbridge.co.uk", To: []string{"sarah@staff.org"}, Cc: []string{"ari@x.io"},
			Attachments: []Attachment{{Name: "invoice-1234.pdf"}}}},
			"[1234 ari café dina invoice io levy main northbridge nova pdf sarah staff street uk]", false},
		{"digits and letters", Interaction{Details: "room 101b, zip 10950"}, "[101b 10950 room zip]", false},
		{"a word too long", Interaction{Details: "see " + strings.Repeat("x", maxWordLen+1)}, "[]", true},
		{"too many words", Interaction{Details: manyWords(maxWordsPer + 1)}, "[]", true},
		{"as many words as allowed", Interaction{Details: manyWords(maxWordsPer) + " " + manyWords(maxWordsPer)}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			words, overflow := indexWords(&tt.ia)
			if overflow != tt.overflow || tt.want != "" && fmt.Sprint(words) != tt.want {
				t.Errorf("indexWords = %v, %v; want %s, %v", words, overflow, tt.want, tt.overflow)
			}
		})
	}
}

func manyWords(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "w%04d ", i)
	}
	return b.String()
}

func TestQueryRuns(t *testing.T) {
	t.Parallel()
	tests := []struct{ text, want string }{
		{"etrog", "[etrog]"},
		{"an Etrog box", "[etrog box]"},
		{"the", "[]"}, // a stop word
		{"hat", "[]"}, // inside "that"
		{"ab", "[]"},  // inside "about"
		{"qz", "[qz]"},
		{"47", "[]"}, // two digits
		{"3d", "[3d]"},
		{"q", "[]"}, // too short
		{"dina.levy@northbridge", "[dina levy northbridge]"},
		{"x-ray x-ray", "[ray]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(queryRuns(tt.text)); got != tt.want {
			t.Errorf("queryRuns(%q) = %s, want %s", tt.text, got, tt.want)
		}
	}
}

// textCorpus is small on purpose: words share substrings ("fund" in
// "fundraiser" and "refund"), so expansions have several words.
var textCorpus = strings.Fields(`fundraiser refund fund funding etrog etrogs lulav sukkah the and with about
	that her there hospital hospitality visit visited revisit Shabbat shabbos dinner kiddush Café café naïve
	invoice-2024 room-101b x-ray 10950 Brooklyn brook Main Street avenue rabbi rabbinic class classes classic
	tuition assistance moving apartment yahrzeit bar mitzvah ÉCOLE école ok it we at`)

func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString([]string{" ", " ", " ", ", ", ".\n", "-", " — "}[r.IntN(7)])
		}
		b.WriteString(textCorpus[r.IntN(len(textCorpus))])
	}
	return b.String()
}

func randomInteraction(r *rand.Rand, contacts, owners []ID, base time.Time) Interaction {
	ia := Interaction{
		ContactIDs: []ID{contacts[r.IntN(len(contacts))]},
		Type:       []string{"Call", "Visit", "Email", "Meeting"}[r.IntN(4)],
		OwnerIDs:   []ID{owners[r.IntN(len(owners))]},
		Title:      randomText(r, 1+r.IntN(6)),
		OccurredAt: base.Add(time.Duration(r.IntN(90*24)) * time.Hour),
	}
	if r.IntN(4) > 0 {
		ia.Details = randomText(r, r.IntN(40))
	}
	if r.IntN(5) == 0 {
		ia.Location = "Conference room B"
	}
	if r.IntN(5) == 0 {
		ia.Address = fmt.Sprintf("%d Main Street, Brooklyn NY", r.IntN(200))
	}
	if r.IntN(50) == 0 {
		ia.Details += " " + strings.Repeat("z", maxWordLen+1+r.IntN(5)) // overflow
	}
	if ia.Type == "Email" {
		ia.Email = &Email{From: "dina.levy@northbridge.co.uk", To: []string{fmt.Sprintf("user%d@staff.example.org", r.IntN(5))}}
		if r.IntN(3) == 0 {
			ia.Email.Attachments = []Attachment{{Name: fmt.Sprintf("invoice-%d.pdf", r.IntN(30))}}
		}
	}
	return ia
}

// matchIDs pages through every match of f.
func matchIDs(t *testing.T, s *Store, f Filter, limit int) []ID {
	t.Helper()
	items, _, err := listAll(s, f, limit)
	if err != nil {
		t.Fatalf("ListInteractions(%+v): %v", f, err)
	}
	return ids(items)
}

// TestWordIndexMatchesScan runs many free-text queries on a random store
// with the word index and without it (every candidate record read): the
// results, in order and across pages, must be the same.
func TestWordIndexMatchesScan(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 7))
	var contacts, owners []ID
	for i := range 5 {
		contacts = append(contacts, mustContact(t, s, Contact{Name: fmt.Sprintf("Contact %d", i)}).ID)
		owners = append(owners, mustUser(t, s, fmt.Sprintf("User %d", i), fmt.Sprintf("user%d@staff.example.org", i), RoleStaff).ID)
	}
	base := day("2026-01-01")
	var items []*Interaction
	for range 3 {
		batch := make([]*Interaction, 200)
		for i := range batch {
			ia := randomInteraction(r, contacts, owners, base)
			batch[i] = &ia
		}
		if err := s.CreateInteractions(ctx, batch); err != nil {
			t.Fatal(err)
		}
		items = append(items, batch...)
	}
	// One at a time: pending, then flushed at pendingFlushAt, the rest
	// left pending.
	for range pendingFlushAt + 44 {
		ia := randomInteraction(r, contacts, owners, base)
		items = append(items, mustInteraction(t, s, ia))
	}
	if n := countPending(s); n != 44 {
		t.Errorf("%d interactions pending, want 44 after a flush", n)
	}
	// Edit and delete some, so the index has seen both.
	for i := range 60 {
		ia := items[r.IntN(len(items))]
		if i%3 == 0 {
			if err := s.DeleteInteraction(ctx, ia.ID, nil); err != nil && err != ErrNotFound {
				t.Fatal(err)
			}
			continue
		}
		_, err := s.UpdateInteraction(ctx, ia.ID, nil, func(x *Interaction) error {
			x.Title = randomText(r, 3)
			if i%2 == 0 {
				x.Details = ""
			}
			return nil
		})
		if err != nil && err != ErrNotFound {
			t.Fatal(err)
		}
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check after create, edit, delete: %v", err)
	}

	queries := [][]string{
		{"etrog"}, {"etro"}, {"trog"}, {"fund"}, {"refund"}, {"fundraiser"}, {"xylophone"},
		{"café"}, {"CAFÉ"}, {"école"}, {"naïve"}, {"hospital"}, {"spital"}, {"visit"},
		{"the"}, {"her"}, {"ok"}, {"it"}, {"e"}, {""}, {"brook"}, {"brooklyn ny"},
		{"main street"}, {"101b"}, {"room-101b"}, {"x-ray"}, {"invoice-2024"}, {"invoice-1"},
		{"northbridge"}, {"dina.levy@"}, {"user3@staff"}, {".pdf"}, {"conference room"},
		{"etrog", "lulav"}, {"sukkah", "fund"}, {"fund refund"}, {"class", "rabbi"},
		{strings.Repeat("z", maxWordLen+1)}, {"zzzz"}, {"bar mitzvah"}, {"r mitz"},
		{"yahrzeit", "xylophone"}, {"\nvisit"}, {", the"}, {"qz"}, {"ny"}, {"zz"}, {"b,"}, {"10"},
	}
	for i := range 60 {
		// Random fragments of stored text.
		ia := items[r.IntN(len(items))]
		text := strings.ToLower(ia.Title + " " + ia.Details)
		if len(text) < 4 {
			continue
		}
		n := 3 + r.IntN(min(10, len(text)-3))
		at := r.IntN(len(text) - n + 1)
		frag := text[at : at+n]
		if !strings.ContainsFunc(frag, func(r rune) bool { return r == '\uFFFD' }) && strings.ToValidUTF8(frag, "") == frag {
			queries = append(queries, []string{frag})
		}
		if i%4 == 0 {
			queries = append(queries, []string{frag, textCorpus[r.IntN(len(textCorpus))]})
		}
	}
	filters := func(text []string) []Filter {
		lower := make([]string, len(text))
		for i, s := range text {
			lower[i] = strings.ToLower(s)
		}
		return []Filter{
			{Text: lower},
			{Text: lower, Types: []string{"call"}},
			{Text: lower, OwnerIDs: owners[:1]},
			{Text: lower, ContactIDs: contacts[1:3]},
			{Text: lower, From: base.AddDate(0, 0, 20), To: base.AddDate(0, 0, 50)},
			{Text: lower, NotText: []string{"the"}},
			{Text: lower, NotTypes: []string{"email"}},
		}
	}
	for _, q := range queries {
		for _, f := range filters(q) {
			scan := f
			scan.noWordIndex = true
			want := matchIDs(t, s, scan, 500)
			for _, limit := range []int{7, 50} {
				if got := matchIDs(t, s, f, limit); !slices.Equal(got, want) {
					t.Errorf("text %q, filter %+v, pages of %d: index finds %d, scan %d", q, f, limit, len(got), len(want))
				}
			}
		}
	}
}

func TestWordIndexFollowsEdits(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	c := mustContact(t, s, Contact{Name: "Yossi"})
	a := mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Call", Title: "Brought an etrog", Details: "lulav too"})
	// a is indexed, b stays pending.
	if err := s.update(ctx, func(tx *bolt.Tx) error { return flushPendingWords(tx, 0) }); err != nil {
		t.Fatal(err)
	}
	b := mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Call", Title: "Another etrog"})
	if n := countPending(s); n != 1 {
		t.Fatalf("%d pending, want 1", n)
	}
	find := func(word string) int {
		t.Helper()
		items, _, err := s.ListInteractions(Filter{Text: []string{word}}, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		return len(items)
	}
	vocab := func(word string) bool {
		var ok bool
		s.view(func(tx *bolt.Tx) error { ok = tx.Bucket(ixWordVocab).Get([]byte(word)) != nil; return nil })
		return ok
	}
	if find("etrog") != 2 || find("lulav") != 1 || !vocab("lulav") {
		t.Fatalf("after create: etrog %d, lulav %d", find("etrog"), find("lulav"))
	}
	if _, err := s.UpdateInteraction(ctx, a.ID, nil, func(x *Interaction) error { x.Details = "sukkah"; return nil }); err != nil {
		t.Fatal(err)
	}
	if find("lulav") != 0 || vocab("lulav") || find("sukkah") != 1 || find("etrog") != 2 {
		t.Errorf("after edit: lulav %d (vocab %v), sukkah %d, etrog %d", find("lulav"), vocab("lulav"), find("sukkah"), find("etrog"))
	}
	if err := s.DeleteInteraction(ctx, b.ID, nil); err != nil {
		t.Fatal(err)
	}
	if find("etrog") != 1 || !vocab("etrog") {
		t.Errorf("after deleting one: etrog %d", find("etrog"))
	}
	if err := s.DeleteInteraction(ctx, a.ID, nil); err != nil {
		t.Fatal(err)
	}
	if find("etrog") != 0 || vocab("etrog") || vocab("sukkah") {
		t.Errorf("after deleting both: etrog %d, vocab etrog %v, sukkah %v", find("etrog"), vocab("etrog"), vocab("sukkah"))
	}
}

func TestCheckFindsWordIndexDamage(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := mustContact(t, s, Contact{Name: "Yossi"})
	mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Call", Title: "Brought an etrog"})
	if err := s.update(context.Background(), func(tx *bolt.Tx) error { return flushPendingWords(tx, 0) }); err != nil {
		t.Fatal(err)
	}
	damage := []struct {
		name string
		fn   func(tx *bolt.Tx) error
		want string
	}{
		{"stray word entry", func(tx *bolt.Tx) error { return tx.Bucket(ixWord).Put(tiKey(strPrefix("lulav"), time.Now(), 1), nil) }, "ix_word_post: 3 entries"},
		{"missing word entry", func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(ixWord).Cursor().First()
			return tx.Bucket(ixWord).Delete(k)
		}, "ix_word_post: missing entry"},
		{"damaged block", func(tx *bolt.Tx) error {
			b := tx.Bucket(ixWord)
			k, _ := b.Cursor().First()
			return b.Put(bytes.Clone(k), []byte{0xff})
		}, "damaged posting block"},
		{"stray vocab word", func(tx *bolt.Tx) error { return tx.Bucket(ixWordVocab).Put([]byte("lulav"), nil) }, `stray word "lulav"`},
	}
	for _, d := range damage {
		if err := checkDamaged(t, s, d.fn); err == nil || !strings.Contains(err.Error(), d.want) {
			t.Errorf("%s: Check = %v, want it to mention %q", d.name, err, d.want)
		}
	}
}

// TestWordIndexMigration opens a database as it was before the word index
// (schema 2, no entries): the migration builds the index, in several
// batches, and resumes after an interrupted build.
func TestWordIndexMigration(t *testing.T) {
	t.Parallel()
	path, s, _, _, want := migrationStore(t, 9, 50, false)
	if err := s.db.Update(downgrade); err != nil {
		t.Fatal(err)
	}
	// A build cut short after a few batches of 7, then an older binary
	// (the file is still of schema 2) deletes an interaction already
	// indexed: the next open builds again from nothing, so no stale
	// position is left (Check) and the answers are right.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range append([][]byte{ixWordVocab}, postingBuckets...) {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := buildIndexes(s.db, 7, 0); err != nil {
		t.Fatal(err)
	}
	s.db.Update(func(tx *bolt.Tx) error {
		// Forget the end of the build, as if it had stopped after batch 3.
		k, _ := tx.Bucket(bInteractions).Cursor().First()
		for range 20 {
			k, _ = tx.Bucket(bInteractions).Cursor().Seek(k)
			k = binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(k)+1)
		}
		return tx.Bucket(bMeta).Put(keyIndexPostDone, k)
	})
	var gone ID
	s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bInteractions).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if ia, err := decodeInteraction(keyID(k), v); err == nil && strings.Contains(strings.ToLower(ia.Title+ia.Details), "fund") {
				gone = ia.ID
				return tx.Bucket(bInteractions).Delete(bytes.Clone(k))
			}
		}
		return errors.New("no interaction holds fund")
	})
	want = slices.DeleteFunc(want, func(id ID) bool { return id == gone })
	s.Close()
	// Cut short, the file is still of the old schema: a read-only check
	// verifies its records, not the half-built lists.
	if err := CheckFile(path); err != nil {
		t.Errorf("CheckFile of a file whose migration was cut short: %v", err)
	}
	reopenMigrated(t, path, want).Close()
}

// migrationStore opens a fresh file (the caller closes it) holding n
// random interactions of one contact, written one at a time (pending
// words) or in one bulk batch; want is the ids free text "fund" finds.
func migrationStore(t *testing.T, seed uint64, n int, bulk bool) (path string, s *Store, c *Contact, items []*Interaction, want []ID) {
	t.Helper()
	path, s = openAt(t)
	r := rand.New(rand.NewPCG(seed, seed))
	c = mustContact(t, s, Contact{Name: "Yossi"})
	u := mustUser(t, s, "Sarah", "sarah@org.org", RoleStaff)
	for range n {
		ia := randomInteraction(r, []ID{c.ID}, []ID{u.ID}, day("2026-01-01"))
		items = append(items, &ia)
	}
	if bulk {
		if err := s.CreateInteractions(context.Background(), items); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, ia := range items {
			*ia = *mustInteraction(t, s, *ia)
		}
	}
	want = matchIDs(t, s, Filter{Text: []string{"fund"}}, n)
	if len(want) == 0 {
		t.Fatal("no interaction holds fund: the test data changed")
	}
	return path, s, c, items, want
}

// reopenMigrated opens the file at path, which the open migrates, and
// checks it: Check is clean, free text finds want (the ids of "fund"), no
// resume point is left, the schema is current.
func reopenMigrated(t *testing.T, path string, want []ID) *Store {
	t.Helper()
	s, err := Open(path, Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check after migration: %v", err)
	}
	if got := matchIDs(t, s, Filter{Text: []string{"fund"}}, 1000); !slices.Equal(got, want) {
		t.Errorf("after migration fund finds %d, want %d", len(got), len(want))
	}
	s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta).Get(keyIndexPostDone) != nil {
			t.Errorf("resume point left behind")
		}
		if v := schemaVersion(tx); v != uint64(SchemaVersion()) {
			t.Errorf("schema version %d, want %d", v, SchemaVersion())
		}
		return nil
	})
	return s
}

// TestIndexPostMigration opens a database of schema 4, whose interaction
// indexes held a key per entry (ix_time, ..., ix_word): migration 5 builds
// the posting lists from the records and drops the old buckets.
func TestIndexPostMigration(t *testing.T) {
	t.Parallel()
	path, s, c, items, want := migrationStore(t, 4, 300, true)
	calls := matchIDs(t, s, Filter{Types: []string{"call"}, ContactIDs: []ID{c.ID}}, 300)
	// Schema 4: the old buckets, their keys as that version wrote them.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for i, b := range postingBuckets {
			old, err := tx.CreateBucket(indexesV4[i])
			if err != nil {
				return err
			}
			for _, ia := range items {
				for _, e := range append(interactionIndex(ia), wordEntries(ia)...) {
					if bytes.Equal(e.bucket, b) {
						if err := old.Put(e.key, []byte{}); err != nil {
							return err
						}
					}
				}
			}
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, 4))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = reopenMigrated(t, path, want)
	defer s.Close()
	if got := matchIDs(t, s, Filter{Types: []string{"call"}, ContactIDs: []ID{c.ID}}, 300); len(got) == 0 || !slices.Equal(got, calls) {
		t.Errorf("after migration the contact's calls are %d, want %d", len(got), len(calls))
	}
	s.view(func(tx *bolt.Tx) error {
		for _, b := range indexesV4 {
			if tx.Bucket(b) != nil {
				t.Errorf("the old %s bucket is still there", b)
			}
		}
		for _, b := range postingBuckets {
			want := 0
			for _, ia := range items {
				for _, e := range append(interactionIndex(ia), wordEntries(ia)...) {
					if bytes.Equal(e.bucket, b) {
						want++
					}
				}
			}
			if n, err := postingCount(tx.Bucket(b)); n != want || err != nil {
				t.Errorf("%s holds %d positions (%v), want %d", b, n, err, want)
			}
		}
		return nil
	})
}

func countPending(s *Store) int {
	n := 0
	s.view(func(tx *bolt.Tx) error {
		it := newPostingIter(tx.Bucket(ixWord), strPrefix(pendingWord), 0, hit{math.MaxUint64, math.MaxUint64})
		for _, ok := it.next(); ok; _, ok = it.next() {
			n++
		}
		return it.err
	})
	return n
}

// TestCheckFileBeforeWordIndex: a backup from before the word index (no
// word buckets, nor the posting lists of schema 5) still verifies
// read-only, so it can be restored; queries on it read-only say why they
// cannot run, and a read-write open rebuilds the indexes.
func TestCheckFileBeforeWordIndex(t *testing.T) {
	t.Parallel()
	path, s := openAt(t)
	c := mustContact(t, s, Contact{Name: "Yossi"})
	mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Call", Title: "Brought an etrog"})
	if err := s.db.Update(downgrade); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := CheckFile(path); err != nil {
		t.Errorf("CheckFile of a file from before the word index: %v", err)
	}
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ListInteractions(Filter{Text: []string{"etrog"}}, 10, ""); !errors.Is(err, ErrOldIndexes) {
		t.Errorf("free text on the old file, read-only: %v, want ErrOldIndexes", err)
	}
	s.Close()
	s, err = Open(path, Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if items, _, err := s.ListInteractions(Filter{Text: []string{"etrog"}}, 10, ""); err != nil || len(items) != 1 {
		t.Errorf("free text after the read-write open = %d items, %v; want 1", len(items), err)
	}
}

// openAt opens a store in a fresh file, returning its path too; the caller
// closes it.
func openAt(t *testing.T) (string, *Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(path, Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return path, s
}

// downgrade makes the file look as it was before the word index: schema 2,
// no word buckets.
func downgrade(tx *bolt.Tx) error {
	for _, b := range append([][]byte{ixWordVocab}, postingBuckets...) {
		if err := tx.DeleteBucket(b); err != nil {
			return err
		}
	}
	return tx.Bucket(bMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, 2))
}

// BenchmarkIndexWords tokenises a typical logged mail (a 2 KB body of
// everyday English with times and numbers, addresses, an attachment): the
// CPU every interaction's word index costs.
func BenchmarkIndexWords(b *testing.B) {
	ia := benchWordsInteraction()
	b.ReportAllocs()
	for b.Loop() {
		if _, overflow := indexWords(ia); overflow {
			b.Fatal("overflow")
		}
	}
}

func benchWordsInteraction() *Interaction {
	vocab := strings.Fields(`we spoke about the class on Thursday and the visit next week; Yossi asked
		whether his brother could join, and I said of course. The etrog order is confirmed for
		Sunday at 10:30, pick-up from the shul office. Invoice #4471 was paid by card. Please
		bring the Tefillin for Dovid, and remind Rivka about the Shabbat meal at 19:15. Call me
		back on 054-7712345 if the time changes. Thanks again for the donation of 180 dollars`)
	r := rand.New(rand.NewPCG(1, 2))
	var body strings.Builder
	for body.Len() < 2000 {
		body.WriteString(vocab[r.IntN(len(vocab))])
		if r.IntN(12) == 0 {
			body.WriteString(".\r\n")
		} else {
			body.WriteByte(' ')
		}
	}
	return &Interaction{Title: "Re: Follow-up about the visit on Thursday", Details: body.String(),
		Email: &Email{From: "yossi.levi@example.com", To: []string{"sarah@org.org"}, Cc: []string{"dana@example.net"},
			Attachments: []Attachment{{Name: "invoice-4471.pdf"}}}}
}

// referenceWords is indexWords written the plain way (split the
// lowercased text, filter, sort, compact): the specification the fast
// tokenizer is held to.
func referenceWords(ia *Interaction) ([]string, bool) {
	var words []string
	overflow := false
	textFields(ia, func(s string) {
		for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !isWordRune(r) }) {
			switch {
			case len(w) < minWordLen, stopWordSet[w], twoDigits(w):
			case len(w) > maxWordLen:
				overflow = true
			default:
				words = append(words, w)
			}
		}
	})
	slices.Sort(words)
	words = slices.Compact(words)
	if overflow || len(words) > maxWordsPer {
		return nil, true
	}
	return words, false
}

func checkAgainstReference(t *testing.T, ia *Interaction) {
	t.Helper()
	got, gotOver := indexWords(ia)
	want, wantOver := referenceWords(ia)
	if gotOver != wantOver || !slices.Equal(got, want) {
		t.Fatalf("indexWords(%q, %q) = %q, %v; the reference says %q, %v", ia.Title, ia.Details, got, gotOver, want, wantOver)
	}
}

func TestIndexWordsMatchesReference(t *testing.T) {
	t.Parallel()
	pieces := []string{"the", "The", "AND", "etrog", "Etrog", "ETROG", "10", "7", "101b", "x", "ny", "İstanbul",
		"שלום", "café", "straße", "Ωmega", "a1", "Z", " ", " ", ", ", ".\r\n", "-", "'", "@", "\t", "é",
		strings.Repeat("k", maxWordLen), strings.Repeat("q", maxWordLen+1)}
	r := rand.New(rand.NewPCG(3, 4))
	text := func(n int) string {
		var b strings.Builder
		for range n {
			if r.IntN(4) == 0 {
				fmt.Fprintf(&b, "w%d", r.IntN(400)) // many distinct words: near maxWordsPer
			} else {
				b.WriteString(pieces[r.IntN(len(pieces))])
			}
		}
		return b.String()
	}
	for range 3000 {
		ia := &Interaction{Title: text(r.IntN(8)), Details: text(r.IntN(600)), Location: text(r.IntN(3)),
			Email: &Email{From: text(2), To: []string{text(2)}, Attachments: []Attachment{{Name: text(2)}}}}
		checkAgainstReference(t, ia)
	}
	checkAgainstReference(t, benchWordsInteraction())
	for n := maxWordsPer - 1; n <= maxWordsPer+1; n++ { // either side of the limit, repeats and stop words between
		checkAgainstReference(t, &Interaction{Title: "The Title", Details: manyWords(n) + " and the " + manyWords(n/2)})
	}
}

func FuzzIndexWords(f *testing.F) {
	f.Add("Call with DAVID re: the Etrog-box", "etrog, etrog! room 101b at 10:30 İstanbul שלום")
	f.Add("", strings.Repeat("w1 w2 w3 ", 100))
	f.Fuzz(func(t *testing.T, title, details string) {
		checkAgainstReference(t, &Interaction{Title: title, Details: details})
	})
}

// TestLongRunKeepsScratchSmall: a letter run far past maxWordLen ends the
// split at once (overflow, as any too-long word), so the pooled scratch
// buffer does not grow to the run's size.
func TestLongRunKeepsScratchSmall(t *testing.T) {
	t.Parallel()
	for _, run := range []string{strings.Repeat("a", 1<<20), strings.Repeat("é", 1<<19)} {
		ws := new(wordSet)
		ws.reset()
		if !ws.addText("start " + run + " end") {
			t.Errorf("a run of %d bytes: no overflow", len(run))
		}
		if cap(ws.scratch) > 4*maxWordLen {
			t.Errorf("a run of %d bytes left a %d-byte scratch buffer", len(run), cap(ws.scratch))
		}
	}
}
