package unitprops

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseUnitFileContinuations pins line continuation to systemd's
// config_parse (src/shared/conf-parser.c): a comment line inside a
// continuation is skipped, but an empty line ends the assignment (it is
// appended as "" and the value no longer ends in a backslash).
func TestParseUnitFileContinuations(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []option
	}{
		{"plain", "[Service]\nSystemCallFilter=read write\n", []option{{"Service", "SystemCallFilter", "read write", 2}}},
		{"continued", "[Service]\nSystemCallFilter=read \\\n  write\n", []option{{"Service", "SystemCallFilter", "read   write", 2}}},
		{"comment inside", "[Service]\nSystemCallFilter=read \\\n# x\n  write\n", []option{{"Service", "SystemCallFilter", "read   write", 2}}},
		{"empty line ends it", "[Service]\nSystemCallFilter=read \\\n\nwrite\nSystemCallLog=open\n", []option{
			{"Service", "SystemCallFilter", "read", 2}, {"Service", "SystemCallLog", "open", 5}}},
		{"blank line ends it", "[Service]\nSystemCallFilter=read \\\n  \t\nExecStart=/bin/true\n", []option{
			{"Service", "SystemCallFilter", "read", 2}, {"Service", "ExecStart", "/bin/true", 4}}},
		{"ends the file", "[Service]\nSystemCallFilter=read \\\n", []option{{"Service", "SystemCallFilter", "read", 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseUnitFile([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(option{})); d != "" {
				t.Errorf("parseUnitFile(%q) (-want +got):\n%s", tc.in, d)
			}
		})
	}
}
