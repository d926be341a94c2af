package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// postingFill is the page fill for posting lists written by the bulk
// paths: a batch rewrites the last block of many lists all over the
// bucket, each a little longer, so pages left full split again at the next
// batch. Measured at 100k interactions (file / raw record bytes): bbolt's
// default 0.5: 2.49; 0.8: 1.96; 0.9: 1.99; 0.95: 2.48; 1.0: 2.44.
const postingFill = 0.8

// putSorted adds index entry keys (prefix | t | id) to a posting-list
// bucket (store/postings.go), sorted first, so each list's blocks are
// visited once per batch rather than once per entry. keys is sorted in
// place.
func putSorted(tx *bolt.Tx, bucket []byte, keys [][]byte) error {
	b := tx.Bucket(bucket)
	b.FillPercent = postingFill
	return postingPutKeys(b, keys)
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
