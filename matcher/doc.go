// Package matcher decides what a received message means: it normalises
// addresses, extracts the participants, finds the contacts and the staff
// members taking part, the direction, and classifies noise (auto-replies,
// bounces, mailing lists). It does no I/O: it reads the store through the
// small Lookup interface, so table tests cover every rule.
package matcher
