package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"touchpoint/matcher"
	"touchpoint/store"
)

// BenchmarkCampaignReport100k reports one 100,000-recipient send to a
// durable store (fsync on every commit) seeded with 20,000 contacts: a
// fifth of the recipients are contacts' addresses, some more fall to an
// organisation by domain, the rest match nobody. Matching uses the real
// matcher rules against the store.
func BenchmarkCampaignReport100k(b *testing.B) {
	s, res := writeStore(b, store.Options{}, 20_000, 1000)
	const n = 100_000
	rcpts := make([]string, 0, n)
	for _, id := range res.Contacts {
		c, err := s.GetContact(id)
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Emails) > 0 && len(rcpts) < n/5 {
			rcpts = append(rcpts, c.Emails[0])
		}
		if len(c.Domains) > 0 && len(rcpts) < n/5+2000 {
			rcpts = append(rcpts, "newsletter-reader@"+c.Domains[0])
		}
	}
	known := len(rcpts)
	for i := 0; len(rcpts) < n; i++ {
		rcpts = append(rcpts, fmt.Sprintf("reader%d@list-%d.example", i, i%5000))
	}
	cfg := matcher.Config{SystemAddress: "log@org.example", FreemailDomains: matcher.DefaultFreemailDomains(), FoldPlusTags: true}
	ctx := context.Background()
	i := 0
	var logged int
	b.ResetTimer()
	for b.Loop() {
		i++
		r, err := s.ReportCampaign(ctx, store.CampaignReport{
			ExternalID: fmt.Sprint("bench-", i), Subject: "Newsletter", SentAt: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC),
			Recipients: rcpts,
		}, matcher.NewRecipients(cfg).Match)
		if err != nil {
			b.Fatal(err)
		}
		logged = r.Logged
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "recipients/s")
	b.ReportMetric(float64(logged), "logged")
	b.ReportMetric(float64(known), "known")
}
