package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// webFiles makes what scenarios/30-remote-scrape.sh installs: an
// exporter-toolkit web config with a self-signed certificate for
// 127.0.0.1 and one bcrypt user, its password, and the README's "Exposing
// the port" drop-in, taken from the README itself so that the text
// operators copy is the text tested. It returns the batch's file map
// entries (guest name → host path).
func webFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := testutil.NewWebCredentials(t, "seccompwatch e2e")
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	dropin := readmeBlock(t, string(readme), "# /etc/systemd/system/seccompwatch.service.d/50-remote-scrape.conf")
	files := map[string][]byte{
		"tls.crt":               c.CertPEM,
		"tls.key":               c.KeyPEM,
		"password":              []byte(c.Password + "\n"),
		"web-config.yml":        c.WebConfig,
		"50-remote-scrape.conf": []byte(dropin),
	}
	out := map[string]string{}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out["web/"+name] = p
	}
	return out
}

// readmeBlock returns the fenced code block of the README that starts with
// the line first, without its indentation.
func readmeBlock(t *testing.T, readme, first string) string {
	t.Helper()
	i := strings.Index(readme, first)
	if i < 0 {
		t.Fatalf("README has no block starting %q", first)
	}
	start := strings.LastIndexByte(readme[:i], '\n') + 1
	indent := readme[start:i]
	var b strings.Builder
	for _, l := range strings.Split(readme[start:], "\n") {
		if strings.TrimSpace(l) == "```" {
			return b.String()
		}
		b.WriteString(strings.TrimPrefix(l, indent) + "\n")
	}
	t.Fatalf("README block %q is not closed", first)
	return ""
}
