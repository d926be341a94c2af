package store

import (
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// postingFill is the page fill for posting lists written by the bulk
// paths: a batch rewrites the last block of many lists all over the
// bucket, each a little longer, so pages left full split again at the next
// batch. Measured at 100k interactions (file / raw record bytes): bbolt's
// default 0.5: 2.49; 0.8: 1.96; 0.9: 1.99; 0.95: 2.48; 1.0: 2.44.
const postingFill = 0.8

// postingBatch gathers a batch's index positions list by list for the
// bulk paths (bulk create, index builds, the pending words' flush): no key
// per entry, integer sorts, and each list's blocks visited once.
type postingBatch struct {
	lists [numLists]map[string]int // prefix → index in hits
	hits  [numLists][][]hit
	names [numLists][]string // prefixes, in hits order
}

func hitOf(ia *Interaction) hit { return hit{timeKey(ia.OccurredAt), ia.ID} }

// add files h under prefix in list (an index of postingBuckets).
func (pb *postingBatch) add(list int, prefix []byte, h hit) {
	if pb.lists[list] == nil {
		pb.lists[list] = map[string]int{}
	}
	i, ok := pb.lists[list][string(prefix)]
	if !ok {
		i = len(pb.hits[list])
		pb.lists[list][string(prefix)] = i
		pb.names[list] = append(pb.names[list], string(prefix))
		pb.hits[list] = append(pb.hits[list], nil)
	}
	pb.hits[list][i] = append(pb.hits[list][i], h)
}

// addWords files ia under each of its indexed words (or overflow).
func (pb *postingBatch) addWords(ia *Interaction) {
	var buf [maxWordLen + 1]byte
	for _, w := range listedWords(ia) {
		pb.add(listWord, append(append(buf[:0], w...), 0), hitOf(ia))
	}
}

// apply writes the gathered positions, each list's sorted, and the new
// words into the vocabulary.
func (pb *postingBatch) apply(tx *bolt.Tx) error {
	for list, names := range pb.names {
		b := tx.Bucket(postingBuckets[list])
		b.FillPercent = postingFill
		order := make([]int, len(names))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(names[a], names[b]) })
		for _, i := range order {
			hs := pb.hits[list][i]
			slices.SortFunc(hs, cmpHit)
			hs = slices.Compact(hs)
			pb.hits[list][i] = hs // apply may run again (a retried commit)
			if err := postingAdd(b, []byte(names[i]), hs); err != nil {
				return err
			}
		}
	}
	words := make([][]byte, len(pb.names[listWord]))
	for i, w := range pb.names[listWord] {
		words[i] = []byte(w)
	}
	return syncVocab(tx, words, nil)
}
