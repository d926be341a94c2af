package store

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// The value encoding: a version byte, then fields in a fixed order as
// uvarint-length-prefixed strings, varints and lists. It is compact (no field
// names) and decodes with no reflection; a record type bumps its version byte
// when its field list changes and its decoder keeps reading older versions.

var errCorrupt = errors.New("store: corrupt record")

type encoder struct{ b []byte }

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) id(v ID)          { e.uvarint(uint64(v)) }
func (e *encoder) bool(v bool)      { e.byte(boolByte(v)) }
func (e *encoder) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) str(v string)     { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) time(t time.Time) { e.varint(timeInt(t)) }
func (e *encoder) strs(v []string) {
	e.uvarint(uint64(len(v)))
	for _, s := range v {
		e.str(s)
	}
}
func (e *encoder) ids(v []ID) {
	e.uvarint(uint64(len(v)))
	for _, id := range v {
		e.id(id)
	}
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// timeInt maps a time to Unix nanoseconds, with the zero time as MinInt64 so
// that "unset" survives a round trip.
func timeInt(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

func intTime(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// decoder reads what encoder wrote. The first error sticks; later reads
// return zero values, so callers check err once at the end.
type decoder struct {
	b   []byte
	err error
	// all, when set (sharedDecoder), is the whole input as one string:
	// str then returns substrings of it, one allocation per record
	// instead of one per text field.
	all string
}

// sharedDecoder decodes b with every string sharing one copy of b. A kept
// field keeps the whole record's bytes alive, which suits records read in
// bulk (lists, exports) better than many small copies.
func sharedDecoder(b []byte) decoder { return decoder{b: b, all: string(b)} }

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) id() ID          { return ID(d.uvarint()) }
func (d *decoder) bool() bool      { return d.byte() == 1 }
func (d *decoder) time() time.Time { return intTime(d.varint()) }

// raw returns a length-prefixed slice that aliases the input.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	r := d.raw()
	if len(r) == 0 {
		return nil
	}
	return append([]byte(nil), r...)
}

// str copies (or, with all, slices the copy), so the result outlives the
// transaction.
func (d *decoder) str() string {
	r := d.raw()
	if d.all == "" || len(r) == 0 {
		return string(r)
	}
	end := len(d.all) - len(d.b)
	return d.all[end-len(r) : end]
}

// count reads a list length and sanity-checks it against the bytes left (each
// element takes at least one byte), so corrupt input cannot make us allocate.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = d.str()
	}
	return v
}

func (d *decoder) ids() []ID {
	n := d.count()
	if n == 0 {
		return nil
	}
	v := make([]ID, n)
	for i := range v {
		v[i] = d.id()
	}
	return v
}
