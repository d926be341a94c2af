//go:build touchpoint_unsafe_ack

package ingest

// unsafeAck, in a build with -tags touchpoint_unsafe_ack, makes the SMTP
// listener answer 250 before the message is committed (and commit it a
// little later). It exists only so the crash test can prove that it detects
// lost acknowledged mail; never ship it.
const unsafeAck = true
