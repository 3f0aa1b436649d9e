package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type doc struct {
	Units map[string]int `json:"units"`
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	in := doc{Units: map[string]int{"nginx.service": 3, "a@b.service": 1}}
	if err := Save(path, in); err != nil {
		t.Fatal(err)
	}
	var out doc
	if err := Load(path, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Units) != 2 || out.Units["nginx.service"] != 3 {
		t.Fatalf("round trip = %+v", out)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestLoadMissing(t *testing.T) {
	var out doc
	err := Load(filepath.Join(t.TempDir(), "none.json"), &out)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

func TestLoadCorruptIsKeptAside(t *testing.T) {
	for name, content := range map[string]string{
		"truncated": `{"units":{"nginx.service":3`,
		"garbage":   "\x00\x01not json",
		"trailing":  `{"units":{}} {"units":{}}`,
		"empty":     "",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			var out doc
			err := Load(path, &out)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("damaged file still in place")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "state.json.corrupt-") {
				t.Errorf("damaged file not kept aside: %v", entries)
			}
		})
	}
}

func TestSaveReadOnlyDir(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := Save(path, doc{}); err != nil {
		t.Fatal(err)
	}
	// A directory that cannot be written (a full or read-only disk looks the
	// same to Save): the error is clear and the old file is intact.
	if err := Save(filepath.Join(dir, "missing-dir", "state.json"), doc{}); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
	var out doc
	if err := Load(path, &out); err != nil {
		t.Fatalf("old state damaged: %v", err)
	}
}

// TestSaveTooLarge: a value Load would refuse (and move aside, losing it
// all at the next start) is not written; the previous file stays.
func TestSaveTooLarge(t *testing.T) {
	defer func(old int64) { maxSize = old }(maxSize)
	maxSize = 64
	path := filepath.Join(t.TempDir(), "state.json")
	if err := Save(path, doc{Units: map[string]int{"a.service": 1}}); err != nil {
		t.Fatal(err)
	}
	big := doc{Units: map[string]int{}}
	for _, u := range []string{"a.service", "b.service", "c.service", "d.service", "e.service"} {
		big.Units[u] = 1
	}
	if err := Save(path, big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Save of a too large value: err = %v, want ErrTooLarge", err)
	}
	var out doc
	if err := Load(path, &out); err != nil || len(out.Units) != 1 {
		t.Fatalf("previous state not kept: %+v, %v", out, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
}
