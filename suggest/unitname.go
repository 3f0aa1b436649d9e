package suggest

import "strings"

// pseudoPrefix starts the name of the pseudo-unit that collects the
// denials of one binary that could not be attributed to a unit.
const pseudoPrefix = "unattributed:"

// IsPseudoUnit reports whether name stands for denials without a unit
// ("unknown", or "unattributed:<exe>"): such names are never applicable.
func IsPseudoUnit(name string) bool {
	return name == "unknown" || name == "" || strings.HasPrefix(name, pseudoPrefix)
}
