package syscalls

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenerateReproduces runs every //go:generate line of gen.go with its
// outputs redirected to a temporary directory and checks that the output
// equals the committed files byte for byte.
func TestGenerateReproduces(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go run")
	}
	f, err := os.Open("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tmp := t.TempDir()
	compared := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "//go:generate ")
		if !ok {
			continue
		}
		args := strings.Fields(line)
		var outputs []string
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-out" || args[i] == "-md" {
				outputs = append(outputs, args[i+1])
				args[i+1] = filepath.Join(tmp, filepath.Base(args[i+1]))
			}
		}
		if len(outputs) == 0 {
			t.Fatalf("go:generate line without -out: %s", line)
		}
		cmd := exec.Command(args[0], args[1:]...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, stderr.String())
		}
		for _, out := range outputs {
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(tmp, filepath.Base(out)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale: go generate ./syscalls/... produces different output", out)
			}
			compared++
		}
	}
	if compared < 3 {
		t.Errorf("compared %d generated files; want ztables.go, zgroups.go, GROUPS.md", compared)
	}
}
