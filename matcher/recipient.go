package matcher

import "touchpoint/store"

// maxCachedOrgs bounds the organisation-domain cache of a Recipients, so
// that matching a send to many distinct domains stays in bounded memory.
const maxCachedOrgs = 10_000

// Recipients resolves the recipients of a campaign send to contacts with
// Match's address rules: the contact listing the address (plus-tag folded
// when configured), else the organisation listing its domain or a parent
// domain, never by a free-mail domain. The system address, staff addresses
// and internal domains belong to no contact. It is not safe for concurrent
// use; make one per report.
type Recipients struct{ r *resolver }

// NewRecipients returns a resolver for one campaign report.
func NewRecipients(cfg Config) *Recipients {
	return &Recipients{r: newResolver(cfg, nil)}
}

// Contact returns the id of the contact addr belongs to, looking up
// through lk; ok is false when it belongs to none or is not an address.
// Only lookup failures are errors.
func (rs *Recipients) Contact(lk Lookup, addr string) (id store.ID, ok bool, err error) {
	rs.r.lk = lk
	email, valid := NormalizeAddress(addr)
	if !valid {
		return 0, false, nil
	}
	if len(rs.r.orgs) > maxCachedOrgs {
		clear(rs.r.orgs)
	}
	// classify, not resolve: resolve remembers every address, which a
	// 100,000-recipient send must not.
	p, err := rs.r.classify(email)
	if err != nil || p.kind != kindContact {
		return 0, false, err
	}
	return p.contact.ID, true, nil
}

// Match is Contact as a store.MatchFunc: the store gives the snapshot
// each batch of recipients is matched in.
func (rs *Recipients) Match(sn *store.Snapshot, addr string) (store.ID, bool, error) {
	return rs.Contact(sn, addr)
}
