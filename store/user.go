package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// Roles.
const (
	RoleAdmin = "admin"
	RoleStaff = "staff"
)

// Password length limits; bcrypt reads at most 72 bytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// User is a staff member who signs in and owns interactions.
type User struct {
	ID       ID        `json:"id"`
	Name     string    `json:"name"`
	Emails   []string  `json:"emails"`
	Role     string    `json:"role"`
	Color    string    `json:"color"`
	Initials string    `json:"initials"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created_at"`
	// AddressToken makes the user's secret address local+TOKEN@domain.
	AddressToken string `json:"-"`
	PasswordHash []byte `json:"-"`
}

const userV1 = 1

func (u *User) encode() []byte {
	var e encoder
	e.byte(userV1)
	e.str(u.Name)
	e.strs(u.Emails)
	e.str(u.Role)
	e.str(u.Color)
	e.str(u.Initials)
	e.bool(u.Disabled)
	e.time(u.Created)
	e.str(u.AddressToken)
	e.bytes(u.PasswordHash)
	return e.b
}

func decodeUser(id ID, b []byte) (*User, error) {
	d := decoder{b: b}
	if d.byte() != userV1 {
		return nil, errCorrupt
	}
	u := &User{ID: id}
	u.Name = d.str()
	u.Emails = d.strs()
	u.Role = d.str()
	u.Color = d.str()
	u.Initials = d.str()
	u.Disabled = d.bool()
	u.Created = d.time()
	u.AddressToken = d.str()
	u.PasswordHash = d.bytes()
	return u, d.err
}

// The avatar palette: readable with white initials.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e", "#393b79"}

func avatarColor(email string) string {
	h := fnv.New32a()
	h.Write([]byte(email))
	return palette[h.Sum32()%uint32(len(palette))]
}

// initialsOf returns up to two capital letters from a name.
func initialsOf(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		r, _ := utf8.DecodeRuneInString(w)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			out = append(out, unicode.ToUpper(r))
		}
	}
	switch len(out) {
	case 0:
		return "?"
	case 1:
		return string(out)
	default:
		return string([]rune{out[0], out[len(out)-1]})
	}
}

func (u *User) normalize() error {
	u.Name = strings.TrimSpace(u.Name)
	if err := checkText("name", u.Name, MaxNameLen, true); err != nil {
		return err
	}
	var err error
	if u.Emails, err = normList("emails", u.Emails, NormalizeEmail); err != nil {
		return err
	}
	if len(u.Emails) == 0 {
		return invalid("emails", "at least one address is required")
	}
	if u.Role == "" {
		u.Role = RoleStaff
	}
	if u.Role != RoleAdmin && u.Role != RoleStaff {
		return invalid("role", "must be %q or %q", RoleAdmin, RoleStaff)
	}
	if u.Color == "" {
		u.Color = avatarColor(u.Emails[0])
	}
	if !validColor(u.Color) {
		return invalid("color", "must look like #1a2b3c")
	}
	if u.Initials == "" {
		u.Initials = initialsOf(u.Name)
	}
	return checkText("initials", u.Initials, 3, true)
}

func validColor(c string) bool {
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

func checkPassword(p string) error {
	if len(p) < MinPasswordLen {
		return invalid("password", "must have at least %d characters", MinPasswordLen)
	}
	if len(p) > MaxPasswordLen {
		return invalid("password", "must have at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// randomString returns n characters from [a-z0-9] (for secret addresses) —
// about 5.2 bits each.
func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func getUser(tx *bolt.Tx, id ID) (*User, error) {
	v := tx.Bucket(bUsers).Get(id.key())
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeUser(id, v)
}

func userIndex(u *User) []indexEntry {
	idk := u.ID.key()
	out := []indexEntry{{ixUserAddr, []byte(u.AddressToken), idk}}
	for _, e := range u.Emails {
		out = append(out, indexEntry{ixUserEmail, []byte(e), idk})
	}
	return out
}

func putUser(tx *bolt.Tx, u, old *User) error {
	for _, e := range u.Emails {
		if v := tx.Bucket(ixUserEmail).Get([]byte(e)); v != nil && keyID(v) != u.ID {
			return conflict("emails", "%s already belongs to user %d", e, keyID(v))
		}
	}
	if old != nil {
		if old.Role == RoleAdmin && !old.Disabled && (u.Role != RoleAdmin || u.Disabled) && countActiveAdmins(tx) <= 1 {
			return invalid("role", "the last active admin cannot be demoted or disabled")
		}
		if err := deleteIndex(tx, userIndex(old)); err != nil {
			return err
		}
	}
	if err := putIndex(tx, userIndex(u)); err != nil {
		return err
	}
	return tx.Bucket(bUsers).Put(u.ID.key(), u.encode())
}

func countActiveAdmins(tx *bolt.Tx) int {
	n := 0
	tx.Bucket(bUsers).ForEach(func(k, v []byte) error {
		if u, err := decodeUser(keyID(k), v); err == nil && u.Role == RoleAdmin && !u.Disabled {
			n++
		}
		return nil
	})
	return n
}

// CreateUser validates u, hashes password and stores the user.
func (s *Store) CreateUser(ctx context.Context, u *User, password string) error {
	if err := u.normalize(); err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	u.PasswordHash = hash
	u.ID = s.NewID()
	u.Created = s.now().UTC()
	u.AddressToken = randomString(12)
	return s.update(ctx, func(tx *bolt.Tx) error { return putUser(tx, u, nil) })
}

// UpdateUser applies edit to a stored user (not its password).
func (s *Store) UpdateUser(ctx context.Context, id ID, edit func(*User) error) (*User, error) {
	var out *User
	err := s.update(ctx, func(tx *bolt.Tx) error {
		old, err := getUser(tx, id)
		if err != nil {
			return err
		}
		u, _ := decodeUser(id, old.encode())
		if err := edit(u); err != nil {
			return err
		}
		u.ID, u.Created, u.AddressToken, u.PasswordHash = id, old.Created, old.AddressToken, old.PasswordHash
		if err := u.normalize(); err != nil {
			return err
		}
		out = u
		return putUser(tx, u, old)
	})
	return out, err
}

// SetPassword replaces a user's password.
func (s *Store) SetPassword(ctx context.Context, id ID, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		u, err := getUser(tx, id)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		return tx.Bucket(bUsers).Put(id.key(), u.encode())
	})
}

// GetUser returns one user.
func (s *Store) GetUser(id ID) (*User, error) {
	var u *User
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		u, err = getUser(tx, id)
		return err
	})
	return u, err
}

// Users lists every user by name.
func (s *Store) Users() ([]*User, error) {
	var out []*User
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bUsers).ForEach(func(k, v []byte) error {
			u, err := decodeUser(keyID(k), v)
			if err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, err
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers() (int, error) {
	var n int
	err := s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bUsers).Stats().KeyN
		return nil
	})
	return n, err
}

// ErrBadCredentials is returned by Authenticate for an unknown address, a
// wrong password or a disabled user alike.
var ErrBadCredentials = errors.New("store: wrong email or password")

// dummyHash keeps Authenticate's timing the same for unknown addresses.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("touchpoint-timing"), bcrypt.MinCost)

// Authenticate checks an email and password.
func (s *Store) Authenticate(email, password string) (*User, error) {
	u, err := s.UserByEmail(email)
	if errors.Is(err, ErrNotFound) {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil || u.Disabled {
		return nil, ErrBadCredentials
	}
	return u, nil
}

// Token is an API token. Only its SHA-256 is stored; the plaintext is shown
// once, when it is created.
type Token struct {
	ID        ID        `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	UserID    ID        `json:"user_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Revoked   bool      `json:"revoked"`
	hash      [32]byte
}

const tokenV1 = 1

// TokenPrefix starts every API token, so that secret scanners know them.
const TokenPrefix = "tp_"

func (t *Token) encode() []byte {
	var e encoder
	e.byte(tokenV1)
	e.str(t.Name)
	e.str(t.Role)
	e.id(t.UserID)
	e.time(t.CreatedAt)
	e.bool(t.Revoked)
	e.bytes(t.hash[:])
	return e.b
}

func decodeToken(id ID, b []byte) (*Token, error) {
	d := decoder{b: b}
	if d.byte() != tokenV1 {
		return nil, errCorrupt
	}
	t := &Token{ID: id}
	t.Name = d.str()
	t.Role = d.str()
	t.UserID = d.id()
	t.CreatedAt = d.time()
	t.Revoked = d.bool()
	copy(t.hash[:], d.raw())
	return t, d.err
}

// CreateToken makes an API token and returns its plaintext, which is not
// stored. userID, when set, ties the token to a user: writes through it are
// authored by that user.
func (s *Store) CreateToken(ctx context.Context, name, role string, userID ID) (string, *Token, error) {
	name = strings.TrimSpace(name)
	if err := checkLabel("name", name); err != nil {
		return "", nil, err
	}
	if role == "" {
		role = RoleStaff
	}
	if role != RoleAdmin && role != RoleStaff {
		return "", nil, invalid("role", "must be %q or %q", RoleAdmin, RoleStaff)
	}
	plain := TokenPrefix + randomString(40)
	t := &Token{ID: s.NewID(), Name: name, Role: role, UserID: userID, CreatedAt: s.now().UTC(), hash: sha256.Sum256([]byte(plain))}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if userID != 0 {
			if _, err := getUser(tx, userID); err != nil {
				return invalid("user_id", "no such user")
			}
		}
		if err := tx.Bucket(ixTokenHash).Put(t.hash[:], t.ID.key()); err != nil {
			return err
		}
		return tx.Bucket(bTokens).Put(t.ID.key(), t.encode())
	})
	if err != nil {
		return "", nil, err
	}
	return plain, t, nil
}

// TokenByPlaintext resolves a presented token; unknown and revoked tokens are
// both ErrNotFound.
func (s *Store) TokenByPlaintext(plain string) (*Token, error) {
	h := sha256.Sum256([]byte(plain))
	var t *Token
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(ixTokenHash).Get(h[:])
		if v == nil {
			return ErrNotFound
		}
		tv := tx.Bucket(bTokens).Get(v)
		if tv == nil {
			return ErrNotFound
		}
		var err error
		t, err = decodeToken(keyID(v), tv)
		return err
	})
	if err != nil {
		return nil, err
	}
	if t.Revoked || subtle.ConstantTimeCompare(t.hash[:], h[:]) != 1 {
		return nil, ErrNotFound
	}
	return t, nil
}

// RevokeToken disables a token for good.
func (s *Store) RevokeToken(ctx context.Context, id ID) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bTokens).Get(id.key())
		if v == nil {
			return ErrNotFound
		}
		t, err := decodeToken(id, v)
		if err != nil {
			return err
		}
		t.Revoked = true
		if err := tx.Bucket(ixTokenHash).Delete(t.hash[:]); err != nil {
			return err
		}
		return tx.Bucket(bTokens).Put(id.key(), t.encode())
	})
}

// Tokens lists every token, newest first.
func (s *Store) Tokens() ([]*Token, error) {
	var out []*Token
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bTokens).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			t, err := decodeToken(keyID(k), v)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}
