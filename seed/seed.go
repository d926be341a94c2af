// Package seed fills a store with realistic synthetic data: staff users,
// organisations with email domains, people with addresses and phones, and a
// skewed history of interactions. Benchmarks use it, and so will
// `touchpoint seed`.
//
// Everything Generate writes is a function of Options alone (the same Seed
// gives the same names, addresses, texts, dates and links), except what the
// store assigns itself: ids, created_at and users' secret address tokens.
package seed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"touchpoint/store"
)

// Version changes whenever Generate's output for given Options changes, so
// caches of generated databases (the store benchmarks keep one) can be keyed
// by it.
const Version = 1

// Password is every generated user's password.
const Password = "touchpoint-seed"

// StaffDomain is the domain of every generated user's address.
const StaffDomain = "staff.example.org"

// RareWord occurs in the details of about one interaction in 200: a free-text
// search for it has to read far back for a page of hits.
const RareWord = "etrog"

// Options say how much to generate. Zero fields take the defaults given.
type Options struct {
	// Contacts is the number of contacts, organisations included. Required.
	Contacts int
	// Interactions is the number of interactions; zero creates none.
	Interactions int
	// Users is the number of staff users who own interactions; default 20.
	// Each costs a bcrypt hash at the store's PasswordCost.
	Users int
	// Organizations is how many of the Contacts are organisations; default
	// Contacts/20.
	Organizations int
	// Seed seeds the PCG generator.
	Seed uint64
	// BatchSize is the number of interactions per batch store.Load stores
	// (one transaction each); default 5000.
	BatchSize int
	// LoadBudget is store.LoadOptions.Budget: the memory index positions
	// may take before they are written (0: the store's default).
	LoadBudget int
	// Start and End bound occurred_at, End exclusive. End defaults to
	// 2026-11-01 UTC (fixed, so output does not depend on the clock), Start
	// to three years before End.
	Start, End time.Time
}

// Result says what Generate created.
type Result struct {
	// Users are the users' ids; the first is an admin, and the earlier a
	// user, the more interactions they own.
	Users []store.ID
	// Contacts are the contacts' ids: organisations first, then people.
	Contacts []store.ID
	// Busiest is the contact with the longest timeline, about 1% of all
	// interactions (zero when there are none).
	Busiest store.ID
	// Interactions is the number of interactions created.
	Interactions int
}

var referenceEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Contacts <= 0:
		return o, errors.New("seed: Contacts must be positive")
	case o.Interactions < 0, o.Users < 0, o.Organizations < 0, o.BatchSize < 0:
		return o, errors.New("seed: counts must not be negative")
	}
	if o.Users == 0 {
		o.Users = 20
	}
	if o.Organizations == 0 {
		o.Organizations = o.Contacts / 20
	}
	if o.Organizations >= o.Contacts {
		return o, fmt.Errorf("seed: %d organisations leave no room for people among %d contacts", o.Organizations, o.Contacts)
	}
	if o.BatchSize == 0 {
		o.BatchSize = 5000
	}
	if o.End.IsZero() {
		o.End = referenceEnd
	}
	if o.Start.IsZero() {
		o.Start = o.End.AddDate(-3, 0, 0)
	}
	o.Start, o.End = o.Start.UTC(), o.End.UTC()
	if !o.Start.Before(o.End) {
		return o, errors.New("seed: Start must be before End")
	}
	return o, nil
}

// Generate creates users, organisations, people and interactions in s, in
// that order, and reports progress (records stored so far, records in all)
// when progress is not nil: one call at a time, from the calling goroutine
// or, for interactions, from store.Load's. Users are created from a few
// goroutines so the store's group commit batches them (hashing their
// passwords is the slow part); organisations, then people, go through one
// CreateContacts call each; interactions go through store.Load,
// o.BatchSize at a time, the next batch generated while the ones before
// are stored. The last progress report comes after their index positions
// are written.
//
// On error the records already committed stay; once interactions have
// started, the Result so far comes back with the error.
func Generate(ctx context.Context, s *store.Store, o Options, progress func(done, total int)) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &gen{
		o:      o,
		rng:    rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		emails: map[string]bool{},
		hosts:  map[string]bool{},
	}
	p := &tracker{total: o.Users + o.Contacts + o.Interactions, fn: progress}
	res := &Result{}

	users := g.users()
	err = createAll(ctx, len(users), func(ctx context.Context, i int) error {
		return s.CreateUser(ctx, users[i], Password)
	}, p.step)
	if err != nil {
		return nil, fmt.Errorf("create users: %w", err)
	}
	for _, u := range users {
		res.Users = append(res.Users, u.ID)
		g.userEmails = append(g.userEmails, u.Emails[0])
	}

	orgs := g.organizations()
	if err := createContacts(ctx, s, orgs, p); err != nil {
		return nil, fmt.Errorf("create organisations: %w", err)
	}
	people := g.people(orgs)
	if err := createContacts(ctx, s, people, p); err != nil {
		return nil, fmt.Errorf("create people: %w", err)
	}
	for _, c := range g.contacts {
		res.Contacts = append(res.Contacts, c.c.ID)
	}
	p.flush()

	n, err := g.createInteractions(ctx, s, res.Users, p)
	res.Interactions = n
	p.finish()
	if err != nil {
		return res, fmt.Errorf("create interactions: %w", err)
	}
	if n > 0 {
		res.Busiest = g.contacts[g.busiest()].c.ID
	}
	return res, nil
}

// tracker reports progress at most every few hundred records.
type tracker struct {
	done, total, last int
	fn                func(done, total int)
}

func (p *tracker) step() { p.add(1) }

func (p *tracker) add(n int) {
	p.done += n
	if p.done-p.last >= 500 {
		p.flush()
	}
}

func (p *tracker) flush() {
	if p.done != p.last {
		p.finish()
	}
}

// finish reports even when nothing was added since the last report: the
// interactions' index positions are written after their records.
func (p *tracker) finish() {
	if p.fn != nil {
		p.fn(p.done, p.total)
	}
	p.last = p.done
}

// createContacts stores cs in one CreateContacts call: a batch as large
// as the contacts before it gets its index entries on full pages.
func createContacts(ctx context.Context, s *store.Store, cs []*contact, p *tracker) error {
	batch := make([]*store.Contact, len(cs))
	for i, c := range cs {
		batch[i] = c.c
	}
	if err := s.CreateContacts(ctx, batch); err != nil {
		return err
	}
	p.add(len(batch))
	return nil
}

// createAll calls create for 0..n-1 from a few goroutines and stops at the
// first error. step runs on the caller's goroutine after each success.
func createAll(ctx context.Context, n int, create func(ctx context.Context, i int) error, step func()) error {
	const workers = 16
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	results := make(chan error)
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				results <- safely(func() error { return create(ctx, i) })
			}
		})
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	var first error
	for err := range results {
		switch {
		case err == nil:
			step()
		case first == nil:
			first = err
			cancel()
		}
	}
	return first
}

// safely turns a panic in fn into an error, so a bug in one goroutine cannot
// take the process down from inside a library call.
func safely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("seed: internal error: %v\n%s", p, debug.Stack())
		}
	}()
	return fn()
}

// contact is a generated contact and what interactions need to know of it.
type contact struct {
	c       *store.Contact
	first   string // what a title calls them
	email   string // the address mail goes to; "" for none
	org     int    // index in gen.contacts of the organisation, -1 for none
	members []int  // an organisation's people, indexes in gen.contacts
}

type gen struct {
	o          Options
	rng        *rand.Rand
	emails     map[string]bool // addresses taken
	hosts      map[string]bool // domains taken
	userEmails []string
	contacts   []*contact // organisations, then people
	orgs       []int      // indexes in contacts of the organisations
	counts     []int      // interactions per contact, for busiest
}

func (g *gen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

// between returns an int in [lo, hi].
func (g *gen) between(lo, hi int) int { return lo + g.rng.IntN(hi-lo+1) }

// uniqueEmail returns local@domain, or local2@domain and so on when taken.
func (g *gen) uniqueEmail(local, domain string) string {
	e := local + "@" + domain
	for n := 2; g.emails[e]; n++ {
		e = local + strconv.Itoa(n) + "@" + domain
	}
	g.emails[e] = true
	return e
}

// uniqueHost returns base+tld, or base2+tld and so on when taken.
func (g *gen) uniqueHost(base, tld string) string {
	h := base + tld
	for n := 2; g.hosts[h]; n++ {
		h = base + strconv.Itoa(n) + tld
	}
	g.hosts[h] = true
	return h
}

// slug keeps the lowercase letters and digits of s.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (g *gen) users() []*store.User {
	out := make([]*store.User, g.o.Users)
	for i := range out {
		first, last := g.pick(firstNames), g.pick(lastNames)
		role := store.RoleStaff
		if i == 0 {
			role = store.RoleAdmin
		}
		out[i] = &store.User{
			Name:   first + " " + last,
			Emails: []string{g.uniqueEmail(slug(first)+"."+slug(last), StaffDomain)},
			Role:   role,
		}
	}
	return out
}

func (g *gen) phone() string {
	switch r := g.rng.IntN(10); {
	case r < 5:
		return fmt.Sprintf("(%d) 555-%04d", g.between(201, 989), g.rng.IntN(10000))
	case r < 8:
		return fmt.Sprintf("+1 %d-555-%04d", g.between(201, 989), g.rng.IntN(10000))
	case r < 9:
		return fmt.Sprintf("+44 20 7946 %04d", g.rng.IntN(10000))
	default:
		return fmt.Sprintf("+972 5%d-%03d-%04d", g.rng.IntN(10), g.rng.IntN(1000), g.rng.IntN(10000))
	}
}

func (g *gen) address() string {
	c := cities[g.rng.IntN(len(cities))]
	line := fmt.Sprintf("%d %s %s", g.between(1, 2999), g.pick(streets), g.pick(streetKinds))
	if g.chance(0.2) {
		line += fmt.Sprintf(", Apt %d%c", g.between(1, 30), 'A'+rune(g.rng.IntN(6)))
	}
	return fmt.Sprintf("%s, %s, %s %05d", line, c.name, c.state, g.between(c.zip, c.zip+99))
}

func (g *gen) organizations() []*contact {
	out := make([]*contact, g.o.Organizations)
	for i := range out {
		head, sector := g.pick(orgHeads), g.pick(orgSectors)
		name := head + " " + sector + g.pick(orgSuffixes)
		base := slug(head + sector)
		if g.chance(0.3) {
			base = slug(head) + "-" + slug(sector)
		}
		domains := []string{g.uniqueHost(base, g.pick(tlds))}
		if g.chance(0.3) {
			domains = append(domains, g.uniqueHost(slug(head), g.pick(tlds)))
		}
		c := &store.Contact{Kind: store.KindOrganization, Name: name, Domains: domains}
		generic := "info@" + domains[0]
		if g.chance(0.6) {
			c.Emails = []string{g.uniqueEmail(g.pick([]string{"info", "office", "hello", "contact"}), domains[0])}
			generic = c.Emails[0]
		}
		if g.chance(0.9) {
			c.Phones = []string{g.phone()}
		}
		if g.chance(0.9) {
			c.Address = g.address()
		}
		out[i] = &contact{c: c, first: name, email: generic, org: -1}
		g.orgs = append(g.orgs, len(g.contacts))
		g.contacts = append(g.contacts, out[i])
	}
	return out
}

// people generates the persons; orgs must have been created (they need ids).
func (g *gen) people(orgs []*contact) []*contact {
	out := make([]*contact, g.o.Contacts-g.o.Organizations)
	for i := range out {
		first, last := g.pick(firstNames), g.pick(lastNames)
		name := first + " " + last
		if g.chance(0.05) {
			name = fmt.Sprintf("%s %c. %s", first, 'A'+rune(g.rng.IntN(26)), last)
		}
		c := &store.Contact{Kind: store.KindPerson, Name: name}
		p := &contact{c: c, first: first, org: -1}
		if len(orgs) > 0 && g.chance(0.5) {
			// Skewed: a few large organisations, many small ones.
			oi := int(float64(len(orgs)) * math.Pow(g.rng.Float64(), 1.6))
			p.org = g.orgs[oi]
			c.OrganizationID = orgs[oi].c.ID
		}
		n := 1
		if r := g.rng.Float64(); r > 0.88 {
			n = 3
		} else if r > 0.55 {
			n = 2
		}
		f, l := slug(first), slug(last)
		for j := range n {
			if j == 0 && p.org >= 0 && g.chance(0.8) {
				domain := g.contacts[p.org].c.Domains[0]
				local := []string{f + "." + l, f[:1] + l, f}[g.rng.IntN(3)]
				c.Emails = append(c.Emails, g.uniqueEmail(local, domain))
				continue
			}
			local := []string{f + "." + l, f + l, f + "_" + l, f[:1] + "." + l, f + l + strconv.Itoa(g.between(1, 99))}[g.rng.IntN(5)]
			c.Emails = append(c.Emails, g.uniqueEmail(local, g.pick(freemail)))
		}
		p.email = c.Emails[0]
		switch r := g.rng.Float64(); {
		case r < 0.65:
			c.Phones = []string{g.phone()}
		case r < 0.85:
			c.Phones = []string{g.phone(), g.phone()}
		}
		if g.chance(0.55) {
			c.Address = g.address()
		}
		out[i] = p
		if p.org >= 0 {
			o := g.contacts[p.org]
			o.members = append(o.members, len(g.contacts))
		}
		g.contacts = append(g.contacts, p)
	}
	return out
}

// weighted picks indexes with given relative weights.
type weighted []float64 // cumulative

func newWeighted(w []float64) weighted {
	out := make(weighted, len(w))
	sum := 0.0
	for i, x := range w {
		sum += x
		out[i] = sum
	}
	return out
}

func (w weighted) pick(r *rand.Rand) int {
	x := r.Float64() * w[len(w)-1]
	i, _ := slices.BinarySearch(w, x)
	return min(i, len(w)-1)
}

type kind struct {
	name     string
	weight   float64
	min, max int // duration in minutes
}

var (
	kinds = []kind{
		{"Email", 40, 0, 0},
		{"Call", 22, 2, 40},
		{"Meeting", 12, 15, 120},
		{"Visit", 8, 20, 180},
		{"Appointment", 6, 15, 60},
		{"Other", 4, 0, 60},
		{"Hospital visit", 3, 20, 90},
		{"Text message", 3, 0, 0},
		{"Shabbat meal", 1.5, 60, 180},
		{"Video call", 0.5, 10, 60},
	}
	actions       = []string{"Tefillin", "Neshek", "Discussion", "Mezuzah check", "Shabbat candles", "Charity", "Torah class"}
	actionWeights = []float64{30, 15, 35, 8, 6, 4, 2}
)

// allocate splits m interactions among n contacts: busiest gets about 1%
// (at least twice the average), the others follow a Zipf-like curve capped
// below the busiest share, in a random order of ranks. The result lists each
// interaction's primary contact, shuffled.
func (g *gen) allocate(m, n, busiest int) []int32 {
	b := 1.0
	if n > 1 {
		b = max(0.01, 2/float64(n))
	}
	shares := make([]float64, n)
	shares[busiest] = b
	if n > 1 {
		others := make([]int, 0, n-1)
		for i := range n {
			if i != busiest {
				others = append(others, i)
			}
		}
		g.rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
		w := make([]float64, len(others))
		for r := range w {
			w[r] = 1 / float64(r+5)
		}
		capShare := max(0.6*b, 1.05*(1-b)/float64(len(others)))
		for r, s := range waterfill(w, 1-b, capShare) {
			shares[others[r]] = s
		}
	}
	counts := make([]int, n)
	type rem struct {
		i    int
		frac float64
	}
	rems := make([]rem, n)
	left := m
	for i, s := range shares {
		exact := s * float64(m)
		counts[i] = int(exact)
		left -= counts[i]
		rems[i] = rem{i, exact - float64(counts[i])}
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return -cmpFloat(a.frac, b.frac) })
	for k := 0; left > 0; k = (k + 1) % n {
		counts[rems[k].i]++
		left--
	}
	for k := n - 1; left < 0; k = (k + n - 1) % n { // rounding overshoot
		if counts[rems[k].i] > 0 {
			counts[rems[k].i]--
			left++
		}
	}
	out := make([]int32, 0, m)
	for i, c := range counts {
		for range c {
			out = append(out, int32(i))
		}
	}
	g.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// waterfill scales w to sum to total with no element above limit, spreading
// what the capped ones cannot take over the rest in proportion.
func waterfill(w []float64, total, limit float64) []float64 {
	out := make([]float64, len(w))
	capped := make([]bool, len(w))
	for {
		rest, sum := total, 0.0
		for i, x := range w {
			if capped[i] {
				rest -= limit
			} else {
				sum += x
			}
		}
		changed := false
		for i, x := range w {
			if capped[i] {
				out[i] = limit
				continue
			}
			out[i] = rest * x / sum
			if out[i] > limit {
				capped[i], changed = true, true
			}
		}
		if !changed || sum == 0 {
			return out
		}
	}
}

// times returns m occurred_at instants between Start and End in the order
// they are stored: mostly chronological, as a database that grew over the
// years would be, with 5% logged late (backdated up to two weeks). Activity
// grows over the period (twice as dense at the end as at the start), thins
// out at weekends, and peaks in the early afternoon.
func (g *gen) times(m int) []int64 {
	start, end := g.o.Start, g.o.End
	span := end.Sub(start)
	out := make([]int64, m)
	for i := range out {
		var t time.Time
		for {
			x := (math.Sqrt(1+3*g.rng.Float64()) - 1) // density ∝ 1+x on [0,1)
			day := start.Add(time.Duration(x * float64(span))).Truncate(24 * time.Hour)
			switch day.Weekday() {
			case time.Saturday:
				if !g.chance(0.1) {
					continue
				}
			case time.Sunday:
				if !g.chance(0.6) {
					continue
				}
			}
			hour := 7 + 14*(g.rng.Float64()+g.rng.Float64())/2
			t = day.Add(time.Duration(hour * float64(time.Hour))).Truncate(time.Second)
			if !t.Before(start) && t.Before(end) {
				break
			}
		}
		out[i] = t.UnixNano()
	}
	slices.Sort(out)
	for i := range out {
		if g.chance(0.05) {
			out[i] = max(out[i]-g.rng.Int64N(int64(14*24*time.Hour)), start.UnixNano())
		}
	}
	return out
}

// busiest returns the index of the contact with the most interactions.
func (g *gen) busiest() int {
	best := 0
	for i, n := range g.counts {
		if n > g.counts[best] {
			best = i
		}
	}
	return best
}

func (g *gen) createInteractions(ctx context.Context, s *store.Store, users []store.ID, p *tracker) (int, error) {
	m := g.o.Interactions
	g.counts = make([]int, len(g.contacts))
	// The designated busiest contact is a person.
	designated := len(g.orgs) + g.rng.IntN(len(g.contacts)-len(g.orgs))
	if m == 0 {
		return 0, nil
	}
	ig := &interactionGen{
		gen:       g,
		users:     users,
		owners:    newWeighted(zipf(len(users), 0.8)),
		kinds:     newWeighted(kindWeights()),
		actions:   newWeighted(actionWeights),
		primaries: g.allocate(m, len(g.contacts), designated),
		times:     g.times(m),
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The next batch is generated while Load stores the ones before.
	batches := make(chan []*store.Interaction, 1)
	var genErr error
	go func() {
		defer close(batches)
		genErr = safely(func() error {
			for start := 0; start < m; start += g.o.BatchSize {
				b := ig.batch(start, min(start+g.o.BatchSize, m))
				select {
				case batches <- b:
				case <-ctx.Done():
					return nil
				}
			}
			return nil
		})
	}()
	before := 0
	n, err := s.Load(ctx, func() ([]*store.Interaction, error) { return <-batches, nil }, store.LoadOptions{
		Budget: g.o.LoadBudget,
		Progress: func(stored int) {
			p.add(stored - before)
			before = stored
		},
	})
	cancel()
	for range batches { // the generator stops at cancel
	}
	if err != nil {
		return n, err
	}
	// The channel is closed, so the generator has finished with genErr and
	// g.counts.
	return n, genErr
}

func zipf(n int, s float64) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1), s)
	}
	return w
}

func kindWeights() []float64 {
	w := make([]float64, len(kinds))
	for i, k := range kinds {
		w[i] = k.weight
	}
	return w
}

type interactionGen struct {
	*gen
	users     []store.ID
	owners    weighted
	kinds     weighted
	actions   weighted
	primaries []int32
	times     []int64
}

func (ig *interactionGen) batch(from, to int) []*store.Interaction {
	out := make([]*store.Interaction, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, ig.interaction(i))
	}
	return out
}

func (ig *interactionGen) interaction(i int) *store.Interaction {
	g := ig.gen
	primary := int(ig.primaries[i])
	cs := []int{primary}
	if g.chance(0.05) {
		extra := 1
		if r := g.rng.Float64(); r > 0.93 {
			extra = g.between(3, 4)
		} else if r > 0.75 {
			extra = 2
		}
		for range extra {
			if c := ig.coContact(primary); !slices.Contains(cs, c) {
				cs = append(cs, c)
			}
		}
	}
	k := kinds[ig.kinds.pick(g.rng)]
	ia := &store.Interaction{
		Type:       k.name,
		OccurredAt: time.Unix(0, ig.times[i]).UTC(),
	}
	for _, c := range cs {
		ia.ContactIDs = append(ia.ContactIDs, g.contacts[c].c.ID)
		g.counts[c]++
	}
	if k.max > 0 {
		ia.DurationMinutes = g.between(k.min, k.max)
		if k.max >= 30 {
			ia.DurationMinutes = max(k.min, ia.DurationMinutes/5*5)
		}
	}
	ia.OwnerIDs = []store.ID{ig.users[ig.owners.pick(g.rng)]}
	if g.chance(0.2) {
		if o := ig.users[ig.owners.pick(g.rng)]; o != ia.OwnerIDs[0] {
			ia.OwnerIDs = append(ia.OwnerIDs, o)
		}
	}
	nActions := 0
	switch r := g.rng.Float64(); {
	case r > 0.93:
		nActions = 3
	case r > 0.75:
		nActions = 2
	case r > 0.40:
		nActions = 1
	}
	for range nActions {
		if a := actions[ig.actions.pick(g.rng)]; !slices.Contains(ia.Actions, a) {
			ia.Actions = append(ia.Actions, a)
		}
	}
	p := g.contacts[primary]
	topic := g.pick(topics)
	ia.Details = g.details()
	if k.name == "Email" {
		ia.Title = fitTitle(fmt.Sprintf(g.pick(emailTitles), topic), p.first)
		ia.Email = ig.email(i, ia, cs)
		switch r := g.rng.IntN(20); {
		case r < 8:
			ia.Source = store.SourceSMTP
		case r < 16:
			ia.Source = store.SourceIMAP
		case r < 18:
			ia.Source = store.SourceAPI
		case r < 19:
			ia.Source = store.SourcePipe
		default:
			ia.Source = store.SourceManual
		}
		return ia
	}
	tmpl := g.pick(titles)
	if specific := kindTitles[k.name]; len(specific) > 0 && g.chance(0.6) {
		tmpl = g.pick(specific)
	}
	ia.Title = fitTitle(fmt.Sprintf(tmpl, p.first, topic, strings.ToLower(k.name)), topic)
	ia.Source = store.SourceManual
	if g.chance(0.15) {
		ia.Source = store.SourceAPI
	}
	if ia.Source == store.SourceManual {
		ia.CreatedBy = ia.OwnerIDs[0]
	}
	switch k.name {
	case "Visit", "Hospital visit":
		ia.Address = p.c.Address
		if ia.Address == "" || g.chance(0.2) {
			ia.Address = g.address()
		}
	case "Meeting", "Appointment", "Other", "Shabbat meal":
		if g.chance(0.5) {
			ia.Location = g.pick(locations)
		}
	}
	return ia
}

// coContact picks another contact for a shared interaction: a colleague
// (or the organisation, or a member of it) half the time, anyone otherwise.
func (ig *interactionGen) coContact(primary int) int {
	g := ig.gen
	p := g.contacts[primary]
	if g.chance(0.5) {
		switch {
		case p.org >= 0:
			o := g.contacts[p.org]
			if g.chance(0.3) {
				return p.org
			}
			return o.members[g.rng.IntN(len(o.members))]
		case len(p.members) > 0:
			return p.members[g.rng.IntN(len(p.members))]
		}
	}
	return g.rng.IntN(len(g.contacts))
}

func (ig *interactionGen) email(i int, ia *store.Interaction, cs []int) *store.Email {
	g := ig.gen
	owner := ig.ownerEmail(ia.OwnerIDs[0])
	var theirs []string
	for _, c := range cs {
		theirs = append(theirs, g.contacts[c].email)
	}
	m := &store.Email{Subject: ia.Title, Direction: store.Outbound}
	host := "mail." + StaffDomain
	if g.chance(0.45) {
		m.Direction = store.Inbound
		m.From, m.To = theirs[0], []string{owner}
		m.Cc = theirs[1:]
		host = theirs[0][strings.LastIndexByte(theirs[0], '@')+1:]
	} else {
		m.From, m.To = owner, theirs
	}
	if g.chance(0.2) {
		if len(ia.OwnerIDs) > 1 {
			m.Cc = append(m.Cc, ig.ownerEmail(ia.OwnerIDs[1]))
		} else {
			m.Cc = append(m.Cc, g.pick(g.userEmails))
		}
	}
	m.MessageID = fmt.Sprintf("%s.%08x.%d@%s", ia.OccurredAt.Format("20060102150405"), g.rng.Uint32(), i, host)
	if g.chance(0.15) {
		for range g.between(1, 3) {
			a := attachments[g.rng.IntN(len(attachments))]
			m.Attachments = append(m.Attachments, store.Attachment{
				Name:        fmt.Sprintf(a.name, g.between(100, 9999)),
				ContentType: a.contentType,
				// Log-uniform between 10 kB and 5 MB.
				Size: int64(1e4 * math.Pow(500, g.rng.Float64())),
			})
		}
	}
	return m
}

func (ig *interactionGen) ownerEmail(id store.ID) string {
	return ig.gen.userEmails[slices.Index(ig.users, id)]
}

// fitTitle brings a title into 20..80 characters, lengthening a short one
// with more.
func fitTitle(t, more string) string {
	if len(t) < 20 {
		t += " — " + more
	}
	for len(t) < 20 {
		t += " (follow-up)"
	}
	if len(t) > 80 {
		t = t[:strings.LastIndexByte(t[:80], ' ')]
	}
	return t
}

// details returns notes of 0..600 characters: a fifth empty, most short, a
// few long, in sentences.
func (g *gen) details() string {
	if g.chance(0.2) {
		return ""
	}
	want := min(600, 20+int(g.rng.ExpFloat64()*160))
	var b strings.Builder
	rare := g.chance(0.006)
	for b.Len() < want {
		var s string
		if rare {
			s = "Brought an " + RareWord + " for " + g.pick(firstNames) + "."
			rare = false
		} else {
			s = fmt.Sprintf("%s %s %s%s", g.pick(subjects), g.pick(verbs), g.pick(topics), g.pick(tails))
		}
		if b.Len() > 0 {
			if g.chance(0.15) {
				b.WriteString("\n\n")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(s)
	}
	d := b.String()
	if len(d) > 600 {
		d = d[:strings.LastIndexByte(d[:600], ' ')] + "…"
	}
	return d
}

// The word lists. Names and places are common ones; organisation names and
// domains are made up.
var (
	firstNames = []string{
		"Aaron", "Abigail", "Adam", "Alex", "Alice", "Amanda", "Andrew", "Anna", "Ari", "Avi",
		"Avraham", "Ben", "Benjamin", "Bracha", "Brian", "Caleb", "Carmen", "Chana", "Chris", "Claire",
		"Daniel", "David", "Deborah", "Dina", "Eli", "Eliana", "Elizabeth", "Emily", "Emma", "Esther",
		"Ethan", "Eva", "Gabriel", "Hannah", "Isaac", "Jacob", "James", "Jason", "Jennifer", "Jessica",
		"Jonathan", "Joseph", "Joshua", "Julia", "Karen", "Kevin", "Laura", "Leah", "Levi", "Lisa",
		"Maria", "Mark", "Matthew", "Menachem", "Michael", "Michelle", "Miriam", "Moshe", "Naomi", "Natalie",
		"Noah", "Olivia", "Rachel", "Rebecca", "Rivka", "Robert", "Ruth", "Samuel", "Sarah", "Shmuel",
		"Shira", "Simon", "Sophia", "Steven", "Susan", "Tamar", "Thomas", "Tzvi", "Yael", "Yitzchak",
		"Yosef", "Yossi", "Zev", "Zoe",
	}
	lastNames = []string{
		"Abrams", "Adler", "Baker", "Berger", "Bernstein", "Brooks", "Brown", "Carter", "Chen", "Cohen",
		"Davis", "Diaz", "Edwards", "Eisen", "Feldman", "Fischer", "Friedman", "Garcia", "Gold", "Goldberg",
		"Goldstein", "Green", "Greenberg", "Gross", "Hall", "Harris", "Hoffman", "Jackson", "Johnson", "Kaplan",
		"Katz", "Kim", "Klein", "Kramer", "Lee", "Levi", "Levin", "Levy", "Lewis", "Lopez",
		"Martin", "Mendel", "Miller", "Mizrahi", "Moore", "Nguyen", "O'Brien", "Patel", "Perez", "Peretz",
		"Rabinowitz", "Rosen", "Rosenberg", "Roth", "Rubin", "Schwartz", "Segal", "Shapiro", "Silver", "Singer",
		"Smith", "Stein", "Stern", "Taylor", "Thompson", "Walker", "Weiss", "White", "Williams", "Wilson",
		"Wolf", "Young", "Zimmerman",
	}
	cities = []struct {
		name, state string
		zip         int
	}{
		{"Brooklyn", "NY", 11200}, {"New York", "NY", 10000}, {"Monsey", "NY", 10950}, {"Lakewood", "NJ", 8700},
		{"Teaneck", "NJ", 7600}, {"Boston", "MA", 2100}, {"Baltimore", "MD", 21200}, {"Silver Spring", "MD", 20900},
		{"Miami Beach", "FL", 33100}, {"Boca Raton", "FL", 33400}, {"Chicago", "IL", 60600}, {"Cleveland", "OH", 44100},
		{"Los Angeles", "CA", 90000}, {"San Diego", "CA", 92100}, {"Houston", "TX", 77000}, {"Denver", "CO", 80200},
		{"Seattle", "WA", 98100}, {"Atlanta", "GA", 30300}, {"Philadelphia", "PA", 19100}, {"Pittsburgh", "PA", 15200},
	}
	streets = []string{
		"Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine",
		"Ocean", "Eastern", "Kingston", "Albany", "Church", "Spring", "Highland", "Forest", "River", "Union",
	}
	streetKinds = []string{"Street", "Avenue", "Road", "Boulevard", "Lane", "Drive", "Place", "Court"}
	orgHeads    = []string{
		"Northbridge", "Riverside", "Summit", "Beacon", "Oakwood", "Harbor", "Cedar", "Granite", "Silverline", "Bluewater",
		"Kingsway", "Lakeshore", "Pinecrest", "Redstone", "Westfield", "Brightpath", "Evergreen", "Ironwood", "Meridian", "Crescent",
		"Sterling", "Hudson", "Liberty", "Parkview", "Shalom", "Menorah", "Jerusalem", "Keystone", "Horizon", "Fairway",
	}
	orgSectors = []string{
		"Logistics", "Dental", "Partners", "Realty", "Capital", "Consulting", "Medical Group", "Builders", "Law Group", "Pharmacy",
		"Insurance", "Motors", "Bakery", "Software", "Academy", "Foods", "Design", "Accounting", "Day School", "Senior Living",
		"Kosher Market", "Printing", "Hospital", "Community Center",
	}
	orgSuffixes = []string{"", "", "", " LLC", " Inc.", " Ltd", " & Co.", " Group"}
	tlds        = []string{".com", ".com", ".com", ".com", ".org", ".net", ".co.uk", ".io", ".us"}
	freemail    = []string{"gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me"}
	locations   = []string{
		"Main office", "Shul", "Community center", "Cafe Nova", "Zoom", "Hospital", "Library", "Their office",
		"Conference room B", "Kosher deli on Main", "Mikvah", "School gym",
	}
	topics = []string{
		"the spring fundraiser", "Shabbat dinner plans", "bar mitzvah lessons", "the new office lease", "the invoice",
		"the holiday schedule", "the volunteer roster", "the board meeting agenda", "hospital visiting hours", "the Torah class",
		"summer camp registration", "a donation receipt", "the kiddush sponsorship", "mezuzah installation", "the Purim event",
		"the quarterly report", "the building permit", "Hebrew school enrolment", "a catering quote", "the Chanukah party",
		"membership renewal", "the website update", "insurance paperwork", "moving to a new apartment", "the job search",
		"family news", "the youth program", "High Holiday seats", "the contract draft", "a referral",
		"the wedding", "a new baby", "the yahrzeit", "tuition assistance", "the food drive",
		"parking at the center", "the newsletter", "the women's circle", "a loan application", "the shiva arrangements",
	}
	// Title templates: %[1]s is the contact's first name, %[2]s a topic,
	// %[3]s the type in lowercase.
	titles = []string{
		"Follow-up on %[2]s",
		"Catch-up with %[1]s",
		"%[1]s — %[3]s about %[2]s",
		"Discussed %[2]s with %[1]s",
		"Quick note after speaking to %[1]s",
		"Update on %[2]s (%[1]s)",
		"%[1]s asked about %[2]s",
	}
	kindTitles = map[string][]string{
		"Call":           {"Call with %[1]s about %[2]s", "Spoke to %[1]s re %[2]s", "Missed call from %[1]s, called back"},
		"Video call":     {"Zoom with %[1]s about %[2]s", "Video call with %[1]s"},
		"Meeting":        {"Meeting with %[1]s re %[2]s", "Met %[1]s to go over %[2]s", "Lunch meeting with %[1]s"},
		"Appointment":    {"Appointment with %[1]s: %[2]s", "%[1]s came in about %[2]s"},
		"Visit":          {"Visit to %[1]s: %[2]s", "Visited %[1]s at home", "Dropped by to see %[1]s"},
		"Hospital visit": {"Hospital visit to %[1]s", "Visited %[1]s in hospital"},
		"Text message":   {"Texted %[1]s about %[2]s", "WhatsApp with %[1]s"},
		"Shabbat meal":   {"%[1]s joined us for Shabbat", "Shabbat meal with %[1]s and family"},
	}
	emailTitles = []string{
		"Re: %[1]s", "Fwd: %[1]s", "Question about %[1]s", "About %[1]s", "Re: Re: %[1]s",
		"Following up on %[1]s", "Thank you — %[1]s", "Quick question re %[1]s",
	}
	subjects = []string{"He", "She", "They", "We", "The family", "Her husband", "His wife", "The office", "Everyone", "The rabbi"}
	verbs    = []string{
		"mentioned", "asked about", "agreed to help with", "will follow up on", "is worried about", "wants to discuss",
		"confirmed", "sent over details of", "forgot about", "is excited about", "needs more time for", "offered to sponsor",
		"has questions about", "reminded us about", "is still thinking about",
	}
	tails = []string{
		".", ".", ".", " next week.", " before Friday.", " after the holidays.", " when things calm down.",
		" with the family.", " — call back Tuesday.", " and sends regards.", "; will email the details.",
	}
	attachments = []struct{ name, contentType string }{
		{"agenda-%d.pdf", "application/pdf"},
		{"invoice-%d.pdf", "application/pdf"},
		{"IMG_%d.jpg", "image/jpeg"},
		{"notes-%d.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"budget-%d.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"flyer-%d.png", "image/png"},
	}
)
