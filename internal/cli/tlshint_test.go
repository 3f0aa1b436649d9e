package cli

import (
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTLSHints: a client request that fails in TLS names the option that
// fixes it, never "is `seccompwatch run` running there?" — something
// answered. Real TLS handshakes against Go's server on loopback.
func TestTLSHints(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"denials":[]}`))
	})
	tlsSrv := httptest.NewTLSServer(ok)
	defer tlsSrv.Close()
	mtlsSrv := httptest.NewUnstartedServer(ok)
	mtlsSrv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	mtlsSrv.StartTLS()
	defer mtlsSrv.Close()
	plainSrv := httptest.NewServer(ok)
	defer plainSrv.Close()

	// httptest's certificate is self-signed for 127.0.0.1, ::1 and
	// example.com: as its own CA it verifies for 127.0.0.1 only.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	mca := filepath.Join(t.TempDir(), "mca.pem")
	if err := os.WriteFile(mca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mtlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	localhost := strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1)
	plainAsTLS := strings.Replace(plainSrv.URL, "http://", "https://", 1)
	tlsAsPlain := strings.Replace(tlsSrv.URL, "https://", "http://", 1)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"trusted", []string{"--server", tlsSrv.URL, "--tls.ca-file", ca}, 0, ""},
		{"unknown CA", []string{"--server", tlsSrv.URL}, ExitError, "give the CA with --tls.ca-file"},
		{"wrong name", []string{"--server", localhost, "--tls.ca-file", ca}, ExitError, "--tls.server-name"},
		{"server name fixes it", []string{"--server", localhost, "--tls.ca-file", ca, "--tls.server-name", "127.0.0.1"}, 0, ""},
		{"client certificate required", []string{"--server", mtlsSrv.URL, "--tls.ca-file", mca}, ExitError, "give --tls.cert-file and --tls.key-file"},
		{"https to plain HTTP", []string{"--server", plainAsTLS}, ExitError, "use an http:// URL"},
		{"http to TLS", []string{"--server", tlsAsPlain}, ExitError, "use an https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, "", append([]string{"denials"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.want)
			}
			if strings.Contains(stderr, "running there") {
				t.Errorf("stderr %q asks whether the daemon runs: something answered", stderr)
			}
			t.Logf("%s", strings.TrimSpace(stderr))
		})
	}
}
