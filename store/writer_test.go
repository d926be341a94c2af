package store

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestLoneAnnouncedWriteDoesNotWait: a caller that announced its write
// (Expect, as an SMTP session does from MAIL FROM) and then makes it is
// the only writer; the batch must not wait for the announcement of the
// very write it holds.
func TestLoneAnnouncedWriteDoesNotWait(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	const n = 300
	for range n {
		ctx, release := s.Expect(context.Background())
		if err := s.update(ctx, func(*bolt.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		release()
	}
	if got := s.lingerExpired.Load(); got != 0 {
		t.Errorf("%d of %d lone announced writes waited the whole linger for themselves", got, n)
	}
}
