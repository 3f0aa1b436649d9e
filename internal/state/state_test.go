package state

import (
	"bufio"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

// killDoc is what the child of TestSIGKILLWhileSaving writes: every value
// equals Seq and there are Count of them, so a torn or mixed file shows.
type killDoc struct {
	Seq   int            `json:"seq"`
	Count int            `json:"count"`
	Units map[string]int `json:"units"`
}

// TestSIGKILLWhileSaving SIGKILLs a process that saves the state in a loop
// (400 kB), 60 times, each 0-4 ms after a Save began writing its
// temporary file (the child says when), and loads the file after each kill
// as the next start would: it is always a whole file of one Save, never
// torn or older than the last Save seen, and the temporary files of the
// interrupted Saves are removed by Load.
func TestSIGKILLWhileSaving(t *testing.T) {
	if dir := os.Getenv("STATE_KILL_CHILD"); dir != "" {
		path := filepath.Join(dir, "state.json")
		first, _ := strconv.Atoi(os.Getenv("STATE_KILL_SEQ"))
		writing = func() { os.Stdout.WriteString("writing\n") }
		keys := make([]string, 10000)
		for i := range keys {
			keys[i] = "unit-" + strconv.Itoa(i) + ".service"
		}
		for seq := first; ; seq++ {
			d := killDoc{Seq: seq, Count: len(keys), Units: make(map[string]int, len(keys))}
			for _, k := range keys {
				d.Units[k] = seq
			}
			if err := Save(path, d); err != nil {
				os.Exit(3)
			}
			os.Stdout.WriteString("saved\n")
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	const kills = 60
	rng := rand.New(rand.NewPCG(1, 2))
	interrupted, lastSeq := 0, 0
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLWhileSaving$")
		cmd.Env = append(os.Environ(), "STATE_KILL_CHILD="+dir, "STATE_KILL_SEQ="+strconv.Itoa(lastSeq+1))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Once the child has saved once, kill it 0-4 ms after the next
		// Save began to write.
		br := bufio.NewReader(out)
		for _, want := range []string{"writing\n", "saved\n", "writing\n"} {
			if l, err := br.ReadString('\n'); err != nil || l != want {
				t.Fatalf("child said %q (%v), want %q", l, err, want)
			}
		}
		time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child ended with %v, not by SIGKILL", cmd.ProcessState)
		}
		if left, _ := filepath.Glob(tempPattern(path)); len(left) > 0 {
			interrupted++
		}
		var d killDoc
		if err := Load(path, &d); err != nil {
			t.Fatalf("kill %d: the next start cannot load the state: %v", k, err)
		}
		if len(d.Units) != d.Count || d.Count != 10000 || d.Seq <= lastSeq {
			t.Fatalf("kill %d: torn or old state: seq %d (last whole save seen %d), %d of %d units", k, d.Seq, lastSeq, len(d.Units), d.Count)
		}
		for u, v := range d.Units {
			if v != d.Seq {
				t.Fatalf("kill %d: mixed state: %s=%d in seq %d", k, u, v, d.Seq)
			}
		}
		if left, _ := filepath.Glob(tempPattern(path)); len(left) > 0 {
			t.Fatalf("kill %d: Load left temporary files: %v", k, left)
		}
		lastSeq = d.Seq
	}
	t.Logf("%d SIGKILLs, %d of them during a write (a temporary file left, removed by Load); every load whole; %d Saves completed", kills, interrupted, lastSeq)
	if interrupted == 0 {
		t.Error("no kill landed during a write: the test did not exercise a torn write")
	}
}
