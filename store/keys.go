package store

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ID identifies every record. IDs are time-ordered: milliseconds since
// idEpoch in the high bits, a sequence in the low 12, so they sort by creation
// and stay below 2^53 (exact in JavaScript numbers) for ~69 years.
type ID uint64

const (
	idSeqBits = 12
	maxJSONID = 1<<53 - 1
)

var idEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func (id ID) String() string { return strconv.FormatUint(uint64(id), 10) }

// ParseID parses a decimal id.
func ParseID(s string) (ID, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 || v > maxJSONID {
		return 0, ErrNotFound
	}
	return ID(v), nil
}

// key returns the 8-byte big-endian form used in bucket keys.
func (id ID) key() []byte { return binary.BigEndian.AppendUint64(nil, uint64(id)) }

func keyID(b []byte) ID { return ID(binary.BigEndian.Uint64(b)) }

// timeKey maps a time to 8 bytes that sort like the time, negative (pre-1970)
// times included.
func timeKey(t time.Time) uint64 { return uint64(t.UnixNano()) ^ 1<<63 }

func keyTime(u uint64) time.Time { return time.Unix(0, int64(u^1<<63)).UTC() }

// tiKey builds prefix | timeKey(t) | id, the shape of every interaction index.
func tiKey(prefix []byte, t time.Time, id ID) []byte { return blockKey(prefix, hit{timeKey(t), id}) }

// strPrefix is the prefix for string-keyed indexes: s 0x00.
func strPrefix(s string) []byte {
	k := make([]byte, 0, len(s)+1)
	k = append(k, s...)
	return append(k, 0)
}

// Cursor marks where a page ended: the last item's occurred_at and id.
type cursor struct {
	t  uint64
	id ID
}

func (c cursor) String() string {
	b := binary.BigEndian.AppendUint64(nil, c.t)
	b = binary.BigEndian.AppendUint64(b, uint64(c.id))
	return b64(b)
}

func parseCursor(s string) (cursor, bool, error) {
	if s == "" {
		return cursor{}, false, nil
	}
	b, err := unb64(s)
	if err != nil || len(b) != 16 {
		return cursor{}, false, ErrBadCursor
	}
	return cursor{binary.BigEndian.Uint64(b), ID(binary.BigEndian.Uint64(b[8:]))}, true, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// Page sizes for every list.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

func clampLimit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

// UnmarshalJSON accepts an id as a JSON number or a decimal string, so
// clients that keep ids as strings work too.
func (id *ID) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*id = 0
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > maxJSONID {
		// A type error lets encoding/json name the field.
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[ID]()}
	}
	*id = ID(v)
	return nil
}

// newestFirst pages through a bucket keyed by id from the newest record
// back; cursor is the id of the last record of the previous page. A bucket
// missing from a read-only file from an older version lists nothing.
func newestFirst[T any](s *Store, bucket []byte, limit int, cursor string, decode func(ID, []byte) (T, error)) ([]T, string, error) {
	limit = clampLimit(limit)
	var before ID
	if cursor != "" {
		id, err := ParseID(cursor)
		if err != nil {
			return nil, "", ErrBadCursor
		}
		before = id
	}
	out := []T{}
	next := ""
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		var k, v []byte
		if before == 0 {
			k, v = cur.Last()
		} else {
			cur.Seek(before.key())
			k, v = cur.Prev()
		}
		var last ID
		for ; k != nil; k, v = cur.Prev() {
			if len(out) == limit {
				next = last.String()
				return nil
			}
			item, err := decode(keyID(k), v)
			if err != nil {
				return err
			}
			out = append(out, item)
			last = keyID(k)
		}
		return nil
	})
	return out, next, err
}
