// Package store owns Touchpoint's data: the bbolt file, its buckets and index
// layout, schema migrations, the domain types (contacts, users, API tokens,
// interactions) and the single group-commit writer through which every write
// goes. It is a leaf package: it imports bbolt and the standard library only.
//
// Layout. Records live in one bucket per kind, keyed by 8-byte big-endian,
// time-ordered ids (see NewID). Values use a small versioned binary encoding
// (codec.go) that decodes without reflection. Every filter the API offers has
// an index bucket whose keys end in occurred_at|id, so a reverse cursor walk
// yields newest-first pages and a point lookup answers "is interaction X in
// this index entry" without decoding the record.
//
// Writes. Store.update hands a function to one writer goroutine, which runs as
// many pending functions as it finds in a single bbolt transaction and commits
// (and fsyncs) once for all of them: group commit without a timer. A function
// that fails is rolled back alone: the batch is retried one function at a
// time, so update functions must not have side effects outside the
// transaction other than filling in their own results.
package store
