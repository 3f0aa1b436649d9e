package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "seccompwatch e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(pw)), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	dropin := readmeBlock(t, string(readme), "# /etc/systemd/system/seccompwatch.service.d/50-remote-scrape.conf")
	files := map[string][]byte{
		"tls.crt":               pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"tls.key":               pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"password":              []byte(hex.EncodeToString(pw) + "\n"),
		"web-config.yml":        []byte("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: " + string(hash) + "\n"),
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
