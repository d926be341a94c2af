package store

import bolt "go.etcd.io/bbolt"

// recordBuckets hold the records themselves; every other bucket is an index
// or bookkeeping derived from them.
var recordBuckets = [][]byte{
	bContacts, bUsers, bTokens, bInteractions, bRaw, bUnmatched,
	bCampaigns, bCampaignSends, bSendRcpt, bSessions, bAudit, bMailboxes,
}

// RawValueBytes sums the value lengths of the record buckets: the bytes of
// data proper, against which the file size is judged (issue 7, P11).
func (s *Store) RawValueBytes() (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		for _, name := range recordBuckets {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			if err := b.ForEach(func(_, v []byte) error {
				n += int64(len(v))
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
