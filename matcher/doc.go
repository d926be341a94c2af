// Package matcher decides what a received message means: it normalises
// addresses, extracts the participants, finds the contacts and the staff
// member taking part, the direction, and classifies noise (auto-replies,
// bounces, mailing lists). It does no I/O: it reads the store through a small
// lookup interface, so table tests cover every rule. (Built with mail
// ingestion; this package is reserved for it.)
package matcher
