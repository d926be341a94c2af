package tests

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// csvContract is the start of the export's header that outside tools rely on.
const csvContract = "date,contact_name,contact_email,contact_phone,type,actions,description"

// TestCSVExport checks the export: exactly the filtered set, one row per
// interaction and contact, text that survives a round trip, and cells that a
// spreadsheet would run as formulas defused.
func TestCSVExport(t *testing.T) {
	t.Parallel()
	in := newInstall(t, adminPassword)
	d := in.start(t)
	c := d.as(t, in.token(t, "--name", "export", "--role", "admin", "--user", adminEmail))

	avi := c.createContact(map[string]any{
		"name": "Avi Ben-David", "emails": []string{"avi@example.com", "avi2@example.com"}, "phones": []string{"+1 555 0101"},
	})
	bina := c.createContact(map[string]any{"name": "Bina Katz", "emails": []string{"bina@example.com"}})
	evil := c.createContact(map[string]any{"kind": "organization", "name": "@Evil Corp", "phones": []string{"-1 555 0102"}})

	const formula = `=HYPERLINK("http://evil.example/","click")`
	const comment = "He said \"yes, fine\", then:\nwe'll meet again, Tuesday, 10am"
	x := c.createInteraction(map[string]any{
		"contact_ids": []uint64{avi.ID}, "type": "Meeting", "title": formula, "occurred_at": "2026-03-01T09:00:00Z",
	})
	y := c.createInteraction(map[string]any{
		"contact_ids": []uint64{avi.ID, bina.ID}, "type": "Visit", "actions": []string{"Tefillin", "Discussion"},
		"details": comment, "address": "3 Oak Rd", "occurred_at": "2026-03-02T10:00:00Z",
	})
	z := c.createInteraction(map[string]any{
		"contact_ids": []uint64{bina.ID}, "type": "Call", "title": "not exported", "occurred_at": "2026-03-03T11:00:00Z",
	})
	w := c.createInteraction(map[string]any{
		"contact_ids": []uint64{evil.ID}, "type": "Other", "title": "plain", "details": "+1 more", "occurred_at": "2026-03-04T12:00:00Z",
	})

	type row struct {
		ia interaction
		ct contact
	}
	for _, tc := range []struct {
		name  string
		query url.Values
		want  []row
	}{
		{"q", url.Values{"q": {"-type:Call"}}, []row{{w, evil}, {y, avi}, {y, bina}, {x, avi}}},
		{"params", url.Values{"type": {"Visit", "Call"}, "from": {"2026-03-02"}}, []row{{z, bina}, {y, avi}, {y, bina}}},
		{"contact", url.Values{"contact_id": {fmt.Sprint(avi.ID)}}, []row{{y, avi}, {y, bina}, {x, avi}}},
		{"everything", nil, []row{{w, evil}, {z, bina}, {y, avi}, {y, bina}, {x, avi}}},
		{"nothing", url.Values{"q": {"before:2026-01-01"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := d.as(t, c.token)
			path := "/api/v1/interactions/export.csv?" + tc.query.Encode()
			r := c.do("GET", path, nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s = %d %s", path, r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
				t.Errorf("Content-Type = %q, want text/csv", ct)
			}
			body := string(r.body)
			if !strings.HasPrefix(body, csvContract+",") && !strings.HasPrefix(body, csvContract+"\r\n") && !strings.HasPrefix(body, csvContract+"\n") {
				first, _, _ := strings.Cut(body, "\n")
				t.Fatalf("header = %q, want it to start with %q", first, csvContract)
			}
			recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatalf("parse CSV: %v\n%s", err, body)
			}
			recs = recs[1:]
			if len(recs) != len(tc.want) {
				t.Fatalf("%d rows, want %d:\n%s", len(recs), len(tc.want), body)
			}
			for i, rec := range recs {
				want := tc.want[i]
				if len(rec) < 7 {
					t.Fatalf("row %d has %d columns: %q", i, len(rec), rec)
				}
				wantRow := []string{
					want.ia.OccurredAt.UTC().Format(time.RFC3339), want.ct.Name, first(want.ct.Emails), first(want.ct.Phones), want.ia.Type,
				}
				// The contract's columns as a spreadsheet must show them.
				for j := range wantRow {
					wantRow[j] = defused(wantRow[j])
				}
				if !slices.Equal(rec[:5], wantRow) {
					t.Errorf("row %d = %q, want it to start %q", i, rec[:7], wantRow)
				}
				for _, a := range want.ia.Actions {
					if !strings.Contains(rec[5], a) {
						t.Errorf("row %d: actions %q, want %q in it", i, rec[5], a)
					}
				}
				switch want.ia.ID {
				case x.ID:
					if rec[6] != "'"+formula {
						t.Errorf("description of a formula title = %q, want %q", rec[6], "'"+formula)
					}
				case y.ID:
					if rec[6] != comment {
						t.Errorf("description = %q, want the comment %q back as it was", rec[6], comment)
					}
				case w.ID:
					if !strings.Contains(rec[6], "plain") || !strings.Contains(rec[6], "+1 more") || strings.HasPrefix(rec[6], "'") {
						t.Errorf("description = %q, want the title and the details", rec[6])
					}
				}
			}
		})
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// defused is how a text cell must appear: with a leading apostrophe when a
// spreadsheet would otherwise take it for a formula.
func defused(s string) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}
