package web

import (
	"bufio"
	"encoding/csv"
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
	w := csv.NewWriter(bw)
	w.UseCRLF = true // RFC 4180
	rows := 0
	err = w.Write(CSVHeader)
	if err == nil {
		row := make([]string, len(CSVHeader))
		var owners []string
		err = s.store.ExportInteractions(f, func(ia *store.Interaction, contacts []*store.Contact) error {
			owners = owners[:0]
			for _, o := range ia.OwnerIDs {
				owners = append(owners, names[o])
			}
			for _, ct := range contacts {
				fillRow(row, ia, ct, owners)
				if err := w.Write(row); err != nil {
					return err
				}
				rows++
			}
			return nil
		})
	}
	w.Flush()
	if err == nil {
		err = w.Error()
	}
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

func fillRow(row []string, ia *store.Interaction, ct *store.Contact, owners []string) {
	direction := ""
	if ia.Email != nil {
		direction = ia.Email.Direction
	}
	row[0] = ia.OccurredAt.UTC().Format(time.RFC3339)
	row[1] = cell(ct.Name)
	row[2] = cell(first(ct.Emails))
	row[3] = cell(first(ct.Phones))
	row[4] = cell(ia.Type)
	row[5] = cell(strings.Join(ia.Actions, "; "))
	row[6] = cell(description(ia))
	row[7] = cell(ia.Title)
	row[8] = cell(ia.Details)
	row[9] = cell(strings.Join(owners, "; "))
	row[10] = ia.Source
	row[11] = cell(ia.Location)
	row[12] = cell(ia.Address)
	row[13] = strconv.Itoa(ia.DurationMinutes)
	row[14] = direction
	row[15] = ia.ID.String()
	row[16] = ct.ID.String()
	row[17] = ia.CreatedAt.UTC().Format(time.RFC3339)
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

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
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
