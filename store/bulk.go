package store

import (
	"bytes"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// appendMostlyFill is the page fill for index buckets written in key order
// by the bulk paths (bulk create, index builds): keys arrive sorted, so a
// split page is rarely written into again and may be left nearly full.
const appendMostlyFill = 0.9

// putSorted puts keys (empty values) into bucket in key order: bbolt then
// walks each leaf once instead of seeking back and forth. keys is sorted in
// place. Pages split full, except in ix_contact_time: its keys go to the
// end of each contact's range, tens of thousands of places all over the
// tree, and a page left full there splits again at the next insert
// (measured: 47% page use, against 59% with bbolt's default).
func putSorted(tx *bolt.Tx, bucket []byte, keys [][]byte) error {
	b := tx.Bucket(bucket)
	if isPostings(bucket) {
		return postingPutKeys(b, keys)
	}
	slices.SortFunc(keys, bytes.Compare)
	if !bytes.Equal(bucket, ixContactTime) {
		b.FillPercent = appendMostlyFill
	}
	for _, k := range keys {
		if err := b.Put(k, []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// distinctWords returns one ix_word key per word of sorted keys, for
// syncVocab.
func distinctWords(keys [][]byte) [][]byte {
	var out [][]byte
	for _, k := range keys {
		if len(out) == 0 || !bytes.Equal(wordOf(out[len(out)-1]), wordOf(k)) {
			out = append(out, k)
		}
	}
	return out
}
