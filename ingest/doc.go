// Package ingest receives mail: the SMTP listener (go-smtp), the IMAP poller
// (go-imap), the pipe command, and the parser (go-message) that turns a raw
// message into an envelope for the matcher. Every path ends in one idempotent
// store transaction, committed and synced before the message is acknowledged.
// (Built with mail ingestion; this package is reserved for it.)
package ingest
