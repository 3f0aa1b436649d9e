package logging

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// withStderr points os.Stderr at a file while New builds a logger.
func withStderr(t *testing.T) (path string, restore func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	old := os.Stderr
	os.Stderr = f
	return path, func() { os.Stderr = old }
}

func TestSamplingIsCounted(t *testing.T) {
	path, restore := withStderr(t)
	log, err := New("json", "info")
	restore()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		log.Info("denial", zap.Int("i", i))
	}
	log.Sync()
	b, _ := os.ReadFile(path)
	lines := strings.Count(string(b), "\n")
	if lines >= 1000 || lines < 10 {
		t.Fatalf("%d lines written, want sampling to keep the first 10 and 1 in 100 after", lines)
	}
	if got := log.Dropped(); got != uint64(1000-lines) {
		t.Fatalf("Dropped() = %d, want %d", got, 1000-lines)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(string(b), "\n", 2)[0]), &first); err != nil || first["msg"] != "denial" {
		t.Fatalf("first line %q is not JSON: %v", strings.SplitN(string(b), "\n", 2)[0], err)
	}
}

func TestLevelAndFormat(t *testing.T) {
	if _, err := New("xml", "info"); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := New("json", "loud"); err == nil {
		t.Error("level loud accepted")
	}
	path, restore := withStderr(t)
	log, err := New("console", "warn")
	restore()
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Level.SetLevel(zap.DebugLevel)
	log.Debug("shown")
	log.Sync()
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "hidden") || !strings.Contains(string(b), "shown") {
		t.Fatalf("level handling wrong:\n%s", b)
	}
}
