//go:build !touchpoint_unsafe_ack

package ingest

// unsafeAck is false in every real build: SMTP answers 250 only after the
// message is durable. See ack_unsafe.go.
const unsafeAck = false
