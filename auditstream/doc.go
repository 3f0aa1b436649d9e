// Package auditstream reads SECCOMP audit records: live from the kernel's
// audit netlink socket (multicast or unicast, via go-libaudit) and replayed
// from files in every shape operators have (audit.log, ausearch --raw and -i,
// kernel log text, journalctl's text output of the records journald stored,
// journalctl -o json / -o export).
//
// Its output is Record, a typed value independent of the source. Parsing is
// pure and allocation-light; malformed input is counted by reason and never
// becomes a record.
package auditstream
