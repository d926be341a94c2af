package store

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned when a record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when a write would break a uniqueness rule.
	ErrConflict = errors.New("store: conflict")
	// ErrBadCursor is returned for a paging cursor that does not decode.
	ErrBadCursor = errors.New("store: bad cursor")
	// ErrClosed is returned by writes after Close.
	ErrClosed = errors.New("store: closed")
	// ErrBusy is returned by Accept when the journal has waited too long
	// for the database (a temporary failure: the sender retries).
	ErrBusy = errors.New("store: busy: received mail waits for the database")
	// ErrOldIndexes is returned by interaction queries on a file of an
	// older schema opened read-only: its indexes are rebuilt by the next
	// read-write open (touchpoint serve, or any command that writes).
	ErrOldIndexes = errors.New("store: the file's interaction indexes are of an older version; open it read-write once to rebuild them")
	// ErrLocked is returned by Open when another process holds the database.
	ErrLocked = errors.New("store: database in use by another process")
)

// ValidationError reports bad input for one field. The web layer maps it to
// 400 with the message; the field uses the JSON name.
type ValidationError struct {
	Field string
	Msg   string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Msg }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ConflictError says which existing record a write collided with. It matches
// ErrConflict with errors.Is.
type ConflictError struct {
	Field string
	Msg   string
}

func (e *ConflictError) Error() string        { return e.Field + ": " + e.Msg }
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

func conflict(field, format string, args ...any) error {
	return &ConflictError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// itemError names the item of a batch a validation or conflict error is
// about: "[3].emails".
func itemError(i int, err error) error {
	var ve *ValidationError
	var ce *ConflictError
	switch {
	case errors.As(err, &ve):
		ve.Field = fmt.Sprintf("[%d].%s", i, ve.Field)
	case errors.As(err, &ce):
		ce.Field = fmt.Sprintf("[%d].%s", i, ce.Field)
	}
	return err
}
