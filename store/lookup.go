package store

import (
	"strings"

	bolt "go.etcd.io/bbolt"
)

// A Snapshot answers the matcher's look-ups (users and contacts by
// address) from one read transaction, so matching a message with a dozen
// addresses opens one transaction instead of a dozen. It is valid only
// inside the function given to Store.Snapshot.
type Snapshot struct{ tx *bolt.Tx }

// Snapshot runs fn with look-ups that all see the same state.
func (s *Store) Snapshot(fn func(*Snapshot) error) error {
	return s.view(func(tx *bolt.Tx) error { return fn(&Snapshot{tx}) })
}

// lookupOnce runs one look-up in a transaction of its own.
func lookupOnce[T any](s *Store, fn func(*Snapshot) (T, error)) (T, error) {
	var v T
	err := s.Snapshot(func(sn *Snapshot) error {
		var err error
		v, err = fn(sn)
		return err
	})
	return v, err
}

// UserByEmail finds the user who sends from an address.
func (sn *Snapshot) UserByEmail(email string) (*User, error) {
	return sn.userBy(ixUserEmail, email)
}

// UserByAddressToken finds the user whose secret address carries token.
func (sn *Snapshot) UserByAddressToken(token string) (*User, error) {
	return sn.userBy(ixUserAddr, token)
}

// ContactByEmail finds the contact that lists an address.
func (sn *Snapshot) ContactByEmail(email string) (*Contact, error) {
	e, ok := NormalizeEmail(email)
	if !ok {
		return nil, ErrNotFound
	}
	return sn.contactBy(ixContactEmail, e)
}

// OrganizationByDomain finds the organisation that lists a domain.
func (sn *Snapshot) OrganizationByDomain(domain string) (*Contact, error) {
	d, ok := NormalizeDomain(domain)
	if !ok {
		return nil, ErrNotFound
	}
	return sn.contactBy(ixContactDomain, d)
}

func (sn *Snapshot) userBy(index []byte, key string) (*User, error) {
	v := sn.tx.Bucket(index).Get([]byte(strings.ToLower(strings.TrimSpace(key))))
	if v == nil {
		return nil, ErrNotFound
	}
	return getUser(sn.tx, keyID(v))
}

// contactBy reads the contact a unique index points key to.
func (sn *Snapshot) contactBy(index []byte, key string) (*Contact, error) {
	v := sn.tx.Bucket(index).Get([]byte(key))
	if v == nil {
		return nil, ErrNotFound
	}
	return getContact(sn.tx, keyID(v))
}

// The same look-ups, each in a transaction of its own.

// UserByEmail finds the user who sends from an address.
func (s *Store) UserByEmail(email string) (*User, error) {
	return lookupOnce(s, func(sn *Snapshot) (*User, error) { return sn.UserByEmail(email) })
}

// UserByAddressToken finds the user whose secret address carries token.
func (s *Store) UserByAddressToken(token string) (*User, error) {
	return lookupOnce(s, func(sn *Snapshot) (*User, error) { return sn.UserByAddressToken(token) })
}

// ContactByEmail finds the contact that lists an address.
func (s *Store) ContactByEmail(email string) (*Contact, error) {
	return lookupOnce(s, func(sn *Snapshot) (*Contact, error) { return sn.ContactByEmail(email) })
}

// OrganizationByDomain finds the organisation that lists a domain.
func (s *Store) OrganizationByDomain(domain string) (*Contact, error) {
	return lookupOnce(s, func(sn *Snapshot) (*Contact, error) { return sn.OrganizationByDomain(domain) })
}
