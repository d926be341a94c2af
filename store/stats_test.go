package store

import (
	"testing"
)

func TestSizes(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := mustContact(t, s, Contact{Kind: KindPerson, Name: "Dina Levy", Emails: []string{"dina@example.org"}})
	for _, title := range []string{"Call about the lease", "Visit"} {
		mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Call", Title: title, OccurredAt: day("2026-05-01")})
	}
	sizes, err := s.Sizes()
	if err != nil {
		t.Fatalf("Sizes: %v", err)
	}
	by := map[string]BucketSize{}
	for _, bs := range sizes {
		by[bs.Name] = bs
	}
	if ia := by["interactions"]; ia.Keys != 2 || ia.Index || ia.KeyBytes != 16 || ia.ValueBytes == 0 {
		t.Errorf("interactions = %+v, want 2 keys of 8 bytes and some value bytes", ia)
	}
	if ia := by["interactions"]; ia.InuseBytes < ia.KeyBytes+ia.ValueBytes {
		t.Errorf("interactions = %+v: fewer bytes in use than keys and values", ia)
	}
	if ix := by[string(ixTime)]; ix.Keys != 1 || !ix.Index || ix.ValueBytes == 0 {
		t.Errorf("%s = %+v, want an index of one block holding both positions", ixTime, ix)
	}
	want := by["interactions"].ValueBytes + by["contacts"].ValueBytes
	if got := RecordValueBytes(sizes); got < want {
		t.Errorf("RecordValueBytes = %d, want at least %d (interactions and contacts)", got, want)
	}
}
