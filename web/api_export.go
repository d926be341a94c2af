package web

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// CSVHeader is the export's header row. The first seven columns are a
// contract relied on by other tools; later ones may be added.
var CSVHeader = []string{
	"date", "contact_name", "contact_email", "contact_phone", "type", "actions", "description",
	"title", "details", "owners", "source", "location", "address", "duration_minutes",
	"direction", "interaction_id", "contact_id", "created_at",
}

// exportInteractions streams the filtered interactions as CSV: one row per
// interaction and contact, newest first, from one read transaction. Rows go
// out as they are read, so memory stays flat for any size.
func (s *Server) exportInteractions(c *gin.Context) {
	f, ok := s.requestFilter(c)
	if !ok {
		return
	}
	s.writeCSV(c, f)
}

// writeCSV streams the export of f; the API's export and the web UI's
// Export link both end here, so they cannot drift apart.
func (s *Server) writeCSV(c *gin.Context, f store.Filter) {
	users, err := s.store.Users()
	if err != nil {
		s.fail(c, err)
		return
	}
	names := make(map[store.ID]string, len(users))
	for _, u := range users {
		names[u.ID] = u.Name
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="touchpoint-interactions-%s.csv"`, s.now().UTC().Format("2006-01-02")))
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	bw := bufio.NewWriterSize(c.Writer, 64<<10)
	w := &csvWriter{w: bw}
	for _, h := range CSVHeader {
		w.text(h)
	}
	w.end()
	rows := 0
	var scratch []byte
	var owners []string
	err = s.store.ExportInteractions(f, func(ia *store.Interaction, contacts []*store.ExportContact) error {
		owners = owners[:0]
		for _, o := range ia.OwnerIDs {
			owners = append(owners, names[o])
		}
		shared := rowShared{actions: cell(strings.Join(ia.Actions, "; ")), description: cell(description(ia)),
			owners: cell(strings.Join(owners, "; "))}
		for _, ct := range contacts {
			scratch = writeRow(w, scratch, ia, ct, &shared)
			rows++
		}
		// bufio keeps the first write error and returns it from then on.
		_, err := bw.Write(nil)
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// The status is gone already; cut the response short so the client
		// sees a broken transfer rather than a complete-looking file.
		s.logFor(c).Warn("csv export interrupted", "err", err, "rows", rows)
		panic(http.ErrAbortHandler)
	}
}

// rowShared holds the cells an interaction's rows share, made once for all
// its contacts.
type rowShared struct{ actions, description, owners string }

// writeRow writes one export row in CSVHeader's order: text cells through
// the formula guard and the quoting check, dates, ids and numbers as they
// are, formatted into scratch (returned for the next row).
func writeRow(w *csvWriter, scratch []byte, ia *store.Interaction, ct *store.ExportContact, sh *rowShared) []byte {
	direction := ""
	if ia.Email != nil {
		direction = ia.Email.Direction
	}
	scratch = ia.OccurredAt.UTC().AppendFormat(scratch[:0], time.RFC3339)
	w.plain(scratch)
	w.text(cell(ct.Name))
	w.text(cell(ct.Email))
	w.text(cell(ct.Phone))
	w.text(cell(ia.Type))
	w.text(sh.actions)
	w.text(sh.description)
	w.text(cell(ia.Title))
	w.text(cell(ia.Details))
	w.text(sh.owners)
	w.text(ia.Source)
	w.text(cell(ia.Location))
	w.text(cell(ia.Address))
	w.plain(strconv.AppendInt(scratch[:0], int64(ia.DurationMinutes), 10))
	w.text(direction)
	w.plain(strconv.AppendUint(scratch[:0], uint64(ia.ID), 10))
	w.plain(strconv.AppendUint(scratch[:0], uint64(ct.ID), 10))
	w.plain(ia.CreatedAt.UTC().AppendFormat(scratch[:0], time.RFC3339))
	w.end()
	return scratch
}

// description is the title and the details together, as a reader of the
// report wants them in one column.
func description(ia *store.Interaction) string {
	switch {
	case ia.Title == "":
		return ia.Details
	case ia.Details == "":
		return ia.Title
	}
	return ia.Title + " — " + ia.Details
}

// cell guards a text cell against formula injection: a spreadsheet runs a
// cell starting with = + - @ (or a tab or CR before one), so such a cell gets
// a leading apostrophe, which spreadsheets show as plain text.
func cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
