package analyze

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	in := "# a header\n\n@one\n    # First\n    read\n    @two\n\n@two\n    write\n# Ungrouped System Calls (...):\n#   frob\n"
	gs, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Group{{"@one", "First", []string{"read", "@two"}}, {"@two", "", []string{"write"}}}
	if len(gs) != len(want) {
		t.Fatalf("got %d groups: %+v", len(gs), gs)
	}
	for i := range want {
		if gs[i].Name != want[i].Name || gs[i].Description != want[i].Description || !slices.Equal(gs[i].Entries, want[i].Entries) {
			t.Errorf("group %d = %+v; want %+v", i, gs[i], want[i])
		}
	}
	d := Direct(gs)
	d["@one"][0] = "changed"
	if gs[0].Entries[0] != "read" {
		t.Error("Direct shares slices with its input")
	}
}

func TestParseCRLFAndTabs(t *testing.T) {
	t.Parallel()
	gs, err := Parse(strings.NewReader("@a\r\n\t# desc\r\n\tread\r\n"))
	if err != nil || len(gs) != 1 || gs[0].Description != "desc" || !slices.Equal(gs[0].Entries, []string{"read"}) {
		t.Errorf("Parse = %+v, %v", gs, err)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "\n\n", "# only\n", "    read\n", "@a\n    read\nbad\n", "@a\n@a\n", "@A\n", "@a\n    r ead\n",
		"@a\n    " + strings.Repeat("x", 65) + "\n", "@a\n    " + strings.Repeat("x", maxLine+1) + "\n",
	} {
		if gs, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("Parse(%.40q) = %+v; want error", in, gs)
		} else if !errors.Is(err, ErrSyntax) && !strings.Contains(err.Error(), "too long") {
			t.Errorf("Parse(%.40q) error %v does not wrap ErrSyntax", in, err)
		}
	}
}

// TestParseCommitted reads the committed inputs: the real systemd 252 output
// has 29 groups, @known last, and nothing from its trailers.
func TestParseCommitted(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "gen", "testdata", "systemd-252.txt"))
	if err != nil {
		t.Fatal(err)
	}
	gs, err := Parse(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 29 || gs[0].Name != "@default" || gs[len(gs)-1].Name != "@known" {
		t.Fatalf("got %d groups, first %s, last %s", len(gs), gs[0].Name, gs[len(gs)-1].Name)
	}
	known := gs[len(gs)-1]
	// The file's @known block has 515 indented entry lines (@obsolete
	// first); the "#   name" lines of the Ungrouped trailer are not entries.
	if known.Entries[0] != "@obsolete" || len(known.Entries) != 515 {
		t.Errorf("@known: %d entries starting %v", len(known.Entries), known.Entries[:3])
	}
}
