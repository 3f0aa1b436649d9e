// Package units attributes seccomp audit records to systemd units.
package units
