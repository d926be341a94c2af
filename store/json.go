package store

import "encoding/json"

// The JSON forms list empty collections as [] rather than null, so clients
// can iterate without checks.

func nz[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// MarshalJSON implements json.Marshaler.
func (c Contact) MarshalJSON() ([]byte, error) {
	type plain Contact
	c.Emails, c.Domains, c.Phones = nz(c.Emails), nz(c.Domains), nz(c.Phones)
	return json.Marshal(plain(c))
}

// MarshalJSON implements json.Marshaler.
func (u User) MarshalJSON() ([]byte, error) {
	type plain User
	u.Emails = nz(u.Emails)
	return json.Marshal(plain(u))
}

// MarshalJSON implements json.Marshaler.
func (ia Interaction) MarshalJSON() ([]byte, error) {
	type plain Interaction
	ia.ContactIDs, ia.Actions, ia.OwnerIDs = nz(ia.ContactIDs), nz(ia.Actions), nz(ia.OwnerIDs)
	return json.Marshal(plain(ia))
}

// MarshalJSON implements json.Marshaler.
func (m Email) MarshalJSON() ([]byte, error) {
	type plain Email
	m.To, m.Cc, m.Attachments = nz(m.To), nz(m.Cc), nz(m.Attachments)
	return json.Marshal(plain(m))
}
