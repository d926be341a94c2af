package seed

import "touchpoint/store"

// Summary is what `touchpoint seed --json` prints, for scripts and the
// scale benchmark (bench/scale).
type Summary struct {
	Path             string     `json:"path"`
	Users            int        `json:"users"`
	Contacts         int        `json:"contacts"`
	Interactions     int        `json:"interactions"`
	UserIDs          []store.ID `json:"user_ids"`
	BusiestContactID store.ID   `json:"busiest_contact_id"`
	// ElapsedSeconds is the whole fill; InteractionsSeconds the part after
	// the last contact was stored, to the end of store.Load: records and
	// index lists written.
	ElapsedSeconds      float64 `json:"elapsed_seconds"`
	InteractionsSeconds float64 `json:"interactions_seconds"`
	FileBytes           int64   `json:"file_bytes"`
}
