package store

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// The filter language shared by the API's q parameter, the CSV export and
// the UI's advanced filter:
//
//	type:Call action:Tefillin owner:sarah after:2026-05-01 "class" -source:smtp
//
// Terms are separated by spaces. key:value terms filter on a field; a value
// with spaces goes in double quotes (type:"Phone call"). Other words and
// "quoted phrases" must occur in the text (title, details, location, address,
// mail addresses, attachment names), case-insensitively. A leading '-' negates
// a term. The same key given twice means either value (type:Call type:Visit);
// different keys must all hold. Dates are YYYY-MM-DD (UTC) or RFC 3339:
// after: and from: include the day given, before: excludes it, to: includes
// it, on: is that one day.

// Filter keys.
var filterKeys = []string{"type", "action", "owner", "source", "contact", "after", "before", "from", "to", "on"}

// Limits on a filter expression.
const (
	MaxQueryLen   = 2000
	MaxQueryTerms = 50
)

// Term is one condition of a Query. Key is "" for free text.
type Term struct {
	Key   string
	Value string
	Neg   bool
	// Field is what errors about this term name: "q" for the expression,
	// or the parameter the term came from.
	Field string
}

// Query is a parsed filter expression, not yet resolved against users and
// contacts (see Store.Resolve).
type Query struct {
	Terms []Term
}

func queryErr(format string, args ...any) error { return invalid("q", format, args...) }

// ParseQuery parses a filter expression.
func ParseQuery(s string) (*Query, error) { return parseQuery(s, filterKeys) }

// parseQuery parses an expression whose key:value terms use keys.
func parseQuery(s string, keys []string) (*Query, error) {
	q := &Query{}
	if len(s) > MaxQueryLen {
		return nil, queryErr("is too long (%d bytes, at most %d)", len(s), MaxQueryLen)
	}
	if !utf8.ValidString(s) {
		return nil, queryErr("is not valid UTF-8")
	}
	rest := s
	for {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			return q, nil
		}
		var t Term
		if rest[0] == '-' && len(rest) > 1 && !unicode.IsSpace(rune(rest[1])) {
			t.Neg = true
			rest = rest[1:]
		}
		if rest[0] == '"' {
			v, r, err := quoted(rest)
			if err != nil {
				return nil, err
			}
			t.Value, rest = v, r
		} else {
			end := strings.IndexFunc(rest, unicode.IsSpace)
			if end < 0 {
				end = len(rest)
			}
			word := rest[:end]
			if i := strings.IndexByte(word, ':'); i > 0 {
				t.Key = strings.ToLower(word[:i])
				if !slices.Contains(keys, t.Key) {
					return nil, queryErr("unknown filter %q (known: %s); put text containing a colon in quotes", word[:i+1], strings.Join(keys, ", "))
				}
				rest = rest[i+1:]
				if strings.HasPrefix(rest, `"`) {
					v, r, err := quoted(rest)
					if err != nil {
						return nil, err
					}
					t.Value, rest = v, r
				} else {
					t.Value, rest = word[i+1:], rest[end-i-1:]
				}
			} else {
				t.Value, rest = word, rest[end:]
			}
		}
		if err := q.add(t); err != nil {
			return nil, err
		}
	}
}

// quoted reads a "..." value at the start of s; \" and \\ are escapes.
func quoted(s string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", queryErr("a quote is not closed")
}

// Add appends a key:value condition given outside the expression (an API
// parameter or a form field); errors, now or from Resolve, name field.
func (q *Query) Add(field, key, value string) error {
	key = strings.ToLower(key)
	if !slices.Contains(filterKeys, key) {
		return invalid(field, "unknown filter %q", key)
	}
	return q.add(Term{Key: key, Value: value, Field: field})
}

// errField renames a validation error to the term's field.
func (t Term) errField(err error) error {
	if ve, ok := err.(*ValidationError); ok && t.Field != "" {
		ve.Field = t.Field
	}
	return err
}

func (q *Query) add(t Term) error {
	if t.Field == "" {
		t.Field = "q"
	}
	return t.errField(q.check(t))
}

func (q *Query) check(t Term) error {
	t.Value = strings.TrimSpace(t.Value)
	if t.Value == "" {
		if t.Key == "" {
			return nil
		}
		return queryErr("%s: needs a value", t.Key)
	}
	if len(q.Terms) >= MaxQueryTerms {
		return queryErr("has more than %d terms", MaxQueryTerms)
	}
	switch t.Key {
	case "after", "before", "from", "to", "on":
		if t.Neg {
			return queryErr("-%s: dates cannot be negated", t.Key)
		}
		if _, _, err := parseDate(t.Value); err != nil {
			return queryErr("%s:%s: %v", t.Key, t.Value, err)
		}
	case "source":
		if !slices.Contains(Sources, strings.ToLower(t.Value)) {
			return queryErr("source:%s: must be one of %s", t.Value, strings.Join(Sources, ", "))
		}
	}
	q.Terms = append(q.Terms, t)
	return nil
}

// String renders the query back as an expression that parses to the same
// terms, for links and forms.
func (q *Query) String() string {
	parts := make([]string, 0, len(q.Terms))
	for _, t := range q.Terms {
		v := t.Value
		if v == "" || strings.ContainsAny(v, `"\:`) || strings.IndexFunc(v, unicode.IsSpace) >= 0 || strings.HasPrefix(v, "-") {
			v = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
		}
		s := v
		if t.Key != "" {
			s = t.Key + ":" + v
		}
		if t.Neg {
			s = "-" + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// parseDate reads YYYY-MM-DD (a whole day, UTC) or an RFC 3339 instant.
func parseDate(s string) (t time.Time, day bool, err error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), false, nil
	}
	return time.Time{}, false, fmt.Errorf("not a date (use YYYY-MM-DD or RFC 3339)")
}

// Resolve turns a Query into a Filter, looking up owners and contacts by
// name, address or id. A name that matches nobody is an error, so a typo is
// not mistaken for "no interactions".
func (s *Store) Resolve(q *Query) (Filter, error) {
	var f Filter
	err := s.view(func(tx *bolt.Tx) error {
		for _, t := range q.Terms {
			if err := f.addTerm(tx, t); err != nil {
				return t.errField(err)
			}
		}
		return nil
	})
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		f.None = true
	}
	return f, err
}

func pick[T any](neg bool, yes, no *[]T, vals ...T) {
	if neg {
		*no = append(*no, vals...)
	} else {
		*yes = append(*yes, vals...)
	}
}

func (f *Filter) addTerm(tx *bolt.Tx, t Term) error {
	v := t.Value
	switch t.Key {
	case "":
		pick(t.Neg, &f.Text, &f.NotText, strings.ToLower(v))
	case "type":
		pick(t.Neg, &f.Types, &f.NotTypes, strings.ToLower(v))
	case "action":
		pick(t.Neg, &f.Actions, &f.NotActions, strings.ToLower(v))
	case "source":
		pick(t.Neg, &f.Sources, &f.NotSources, strings.ToLower(v))
	case "owner":
		ids, err := resolveOwner(tx, v)
		if err != nil {
			return err
		}
		pick(t.Neg, &f.OwnerIDs, &f.NotOwners, ids...)
	case "contact":
		ids, err := resolveContact(tx, v)
		if err != nil {
			return err
		}
		pick(t.Neg, &f.ContactIDs, &f.NotContactIDs, ids...)
	default: // dates, checked by add
		d, day, err := parseDate(v)
		if err != nil {
			return queryErr("%s:%s: %v", t.Key, v, err)
		}
		end := d.Add(time.Nanosecond)
		if day {
			end = d.AddDate(0, 0, 1)
		}
		switch t.Key {
		case "after", "from":
			f.narrow(d, time.Time{})
		case "before":
			f.narrow(time.Time{}, d)
		case "to":
			f.narrow(time.Time{}, end)
		case "on":
			f.narrow(d, end)
		}
	}
	return nil
}

// narrow intersects the date range with [from, to).
func (f *Filter) narrow(from, to time.Time) {
	if !from.IsZero() && (f.From.IsZero() || from.After(f.From)) {
		f.From = from
	}
	if !to.IsZero() && (f.To.IsZero() || to.Before(f.To)) {
		f.To = to
	}
}

// maxResolved bounds how many records one name may stand for.
const maxResolved = 50

func resolveOwner(tx *bolt.Tx, v string) ([]ID, error) {
	if id, err := strconv.ParseUint(v, 10, 64); err == nil {
		if _, err := getUser(tx, ID(id)); err != nil {
			return nil, queryErr("owner:%s: no such user", v)
		}
		return []ID{ID(id)}, nil
	}
	lv := strings.ToLower(v)
	var out []ID
	err := tx.Bucket(bUsers).ForEach(func(k, b []byte) error {
		u, err := decodeUser(keyID(k), b)
		if err != nil {
			return err
		}
		if userMatches(u, lv) {
			out = append(out, u.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, queryErr("owner:%s: matches no user", v)
	}
	return out, nil
}

// userMatches: a full address, an address's local part, or a name whose words
// start with the value's words ("sarah", "sarah c", "sarah@org.org").
func userMatches(u *User, lv string) bool {
	for _, e := range u.Emails {
		if e == lv || strings.HasPrefix(e, lv+"@") {
			return true
		}
	}
	return !strings.Contains(lv, "@") && wordsMatch(words(u.Name), words(lv))
}

func wordsMatch(names, query []string) bool {
	if len(query) == 0 {
		return false
	}
	for _, w := range query {
		if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, w) }) {
			return false
		}
	}
	return true
}

func resolveContact(tx *bolt.Tx, v string) ([]ID, error) {
	if id, err := strconv.ParseUint(v, 10, 64); err == nil {
		if tx.Bucket(bContacts).Get(ID(id).key()) == nil {
			return nil, queryErr("contact:%s: no such contact", v)
		}
		return []ID{ID(id)}, nil
	}
	if e, ok := NormalizeEmail(v); ok {
		if id := tx.Bucket(ixContactEmail).Get([]byte(e)); id != nil {
			return []ID{keyID(id)}, nil
		}
		return nil, queryErr("contact:%s: no contact has this address", v)
	}
	qw := words(v)
	if len(qw) == 0 {
		return nil, queryErr("contact:%s: give a name, an address or an id", v)
	}
	var out []ID
	p := []byte(qw[0])
	cur := tx.Bucket(ixContactWord).Cursor()
	for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = cur.Next() {
		id := keyID(k[len(k)-8:])
		if slices.Contains(out, id) {
			continue
		}
		c, err := getContact(tx, id)
		if err != nil {
			return nil, err
		}
		if wordsMatch(words(c.Name), qw) {
			if len(out) == maxResolved {
				return nil, queryErr("contact:%s: more than %d contacts match; be more specific or use an id", v, maxResolved)
			}
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, queryErr("contact:%s: matches no contact", v)
	}
	return out, nil
}
