package web

import (
	"errors"
	"fmt"
	"net/url"
	"testing"

	"touchpoint/store"
)

func TestEraseContactAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	david := e.contact(map[string]any{"name": "David Levi", "emails": []string{"david@example.org"}})
	rachel := e.contact(map[string]any{"name": "Rachel Green"})
	alone := e.interaction(e.adminTok, map[string]any{"contact_ids": []store.ID{david.ID}, "type": "Call"})
	shared := e.interaction(e.adminTok, map[string]any{"contact_ids": []store.ID{david.ID, rachel.ID}, "type": "Meeting"})

	path := fmt.Sprintf("/api/v1/contacts/%d/erase", david.ID)
	e.must(e.staffTok, "POST", path, nil, 403)
	e.must(e.staffTok, "GET", "/api/v1/audit", nil, 403)
	var a store.AuditEntry
	e.must(e.adminTok, "POST", path, nil, 200).json(t, &a)
	if a.Action != store.AuditContactErase || a.ContactID != david.ID || a.ContactName != "David Levi" || a.ActorID != e.admin.ID ||
		a.Counts[store.EraseInteractionsDeleted] != 1 || a.Counts[store.EraseInteractionsDetached] != 1 {
		t.Errorf("erase answer = %+v", a)
	}
	e.must(e.adminTok, "GET", fmt.Sprintf("/api/v1/contacts/%d", david.ID), nil, 404)
	e.must(e.adminTok, "GET", fmt.Sprintf("/api/v1/interactions/%d", alone.ID), nil, 404)
	var sh store.Interaction
	e.must(e.adminTok, "GET", fmt.Sprintf("/api/v1/interactions/%d", shared.ID), nil, 200).json(t, &sh)
	if len(sh.ContactIDs) != 1 || sh.ContactIDs[0] != rachel.ID {
		t.Errorf("shared interaction after erase = %+v", sh)
	}
	e.must(e.adminTok, "POST", path, nil, 404)

	var log struct {
		Items []store.AuditEntry `json:"items"`
		Next  string             `json:"next_cursor"`
	}
	e.must(e.adminTok, "GET", "/api/v1/audit", nil, 200).json(t, &log)
	if len(log.Items) != 1 || log.Items[0].ID != a.ID || log.Items[0].ActorName != "Ada Admin" || log.Items[0].At.IsZero() {
		t.Errorf("GET /audit = %+v, want the one erasure by Ada Admin", log)
	}
	e.must(e.adminTok, "GET", "/api/v1/audit?cursor=zz", nil, 400)
}

func TestEraseContactPage(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	ct := e.contact(store.Contact{Name: "David Levi", Emails: []string{"david@example.org"}})
	e.interaction(store.Interaction{ContactIDs: []store.ID{ct.ID}, Type: "Call", Title: "alone"})
	profile := fmt.Sprintf("/contacts/%d", ct.ID)

	staff := e.signedIn(e.staff)
	staff.get(profile, 200).hasNot(t, profile+"/erase")
	staff.get(profile+"/erase", 403)
	staff.post(profile+"/erase", nil, 403)

	admin := e.signedIn(e.admin)
	admin.get(profile, 200).has(t, `href="`+profile+`/erase"`, "Erase (privacy)")
	admin.get(profile+"/erase", 200).has(t, "Erase David Levi?", "1 interaction(s)", "Erase for good")
	// Without the form's token nothing happens.
	admin.post(profile+"/erase", url.Values{"csrf_token": {""}}, 403)
	if _, err := e.s.GetContact(ct.ID); err != nil {
		t.Fatalf("contact gone after a refused post: %v", err)
	}
	r := admin.post(profile+"/erase", nil, 303)
	if r.loc != "/contacts" {
		t.Errorf("after erase: redirect to %q", r.loc)
	}
	admin.get("/contacts", 200).has(t, "David Levi was erased: 1 interaction(s) deleted")
	if _, err := e.s.GetContact(ct.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("contact after erase: %v", err)
	}
	// The audit log shows it to admins, in the admin section.
	admin.get("/admin/users", 200).has(t, `href="/admin/audit"`)
	admin.get("/admin/audit", 200).has(t, "Erased a contact", "David Levi", "Ada Admin", "interactions_deleted: 1")
	staff.get("/admin/audit", 403)
}
