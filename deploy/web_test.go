package deploy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seccompwatch/seccompwatch/internal/cli"
	"github.com/seccompwatch/seccompwatch/internal/testutil"
)

// webAuth is a --web.config.file for the daemon: a self-signed certificate
// for 127.0.0.1 (its own CA) and one basic-auth user, as an operator
// exposing the port would write it (README, "Exposing the port").
type webAuth struct {
	dir, configFile, caFile string
	user, password          string
	passwordFile            string
}

func newWebAuth(t *testing.T) *webAuth {
	t.Helper()
	dir := t.TempDir()
	c := testutil.NewWebCredentials(t, "seccompwatch test")
	w := &webAuth{dir: dir, user: testutil.WebUser, password: c.Password}
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	w.caFile = write("tls.crt", c.CertPEM, 0o644)
	write("tls.key", c.KeyPEM, 0o600)
	w.passwordFile = write("password", []byte(w.password+"\n"), 0o600)
	// Paths relative to the config file's directory, as with LoadCredential=
	// (every file in the credentials directory).
	w.configFile = write("web-config.yml", c.WebConfig, 0o600)
	return w
}

// client returns an HTTPS client that trusts the test's certificate and
// sends user and password (none when user is "").
func (w *webAuth) client(t *testing.T, user, password string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(w.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("test CA not parsed")
	}
	var rt http.RoundTripper = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	if user != "" {
		rt = basicAuth{rt, user, password}
	}
	// An unknown user is checked against exporter-toolkit's fixed bcrypt
	// hash of cost 10: seconds under the race detector.
	return &http.Client{Timeout: 60 * time.Second, Transport: rt}
}

type basicAuth struct {
	next           http.RoundTripper
	user, password string
}

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.password)
	return b.next.RoundTrip(r)
}

// The daemon behind --web.config.file: Prometheus scraped it over TLS with
// basic auth all along (every other subtest's data came so); here, what is
// refused, and the CLI clients' matching options.
func (env *liveEnv) testWebConfig(t *testing.T) {
	d, w := env.daemon, env.web
	for _, tc := range []struct {
		name   string
		client *http.Client
		url    string
		want   int
	}{
		{"plain HTTP", &http.Client{Timeout: 5 * time.Second}, "http://" + d.addr + "/metrics", http.StatusBadRequest},
		{"no credentials", w.client(t, "", ""), d.base + "/metrics", http.StatusUnauthorized},
		{"wrong password", w.client(t, w.user, w.password+"x"), d.base + "/metrics", http.StatusUnauthorized},
		{"unknown user", w.client(t, "admin", w.password), d.base + "/healthz", http.StatusUnauthorized},
		{"credentials", w.client(t, w.user, w.password), d.base + "/healthz", http.StatusOK},
	} {
		resp, err := tc.client.Get(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	// A client that does not trust the certificate refuses it.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(d.base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("an unknown certificate was accepted")
	}

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Main(args, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	base := []string{"denials", "--server", d.base, "--unit", env.fresh, "--output", "jsonl"}
	code, out, errs := run(append(base, "--tls.ca-file", w.caFile, "--basic-auth.username", w.user, "--basic-auth.password-file", w.passwordFile)...)
	// (Which of the unit's records the API returns is not this test's
	// business: one of the unit's is enough to show the client got in.)
	if code != 0 || !strings.Contains(out, `"unit":"`+env.fresh+`"`) {
		t.Errorf("denials with TLS and basic auth: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = run("suggest", env.fresh, "--server", d.base, "--tls.ca-file", w.caFile, "--basic-auth.username", w.user, "--basic-auth.password-file", w.passwordFile)
	if code != 0 || !strings.Contains(out, env.fresh) {
		t.Errorf("suggest with TLS and basic auth: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = run(append(base, "--tls.ca-file", w.caFile)...)
	if code != 1 || !strings.Contains(errs, "HTTP 401") {
		t.Errorf("denials without basic auth: exit %d, stderr %q; want 1 and the daemon's 401", code, errs)
	}
	t.Logf("without basic auth: %s", errs)
	code, _, errs = run(append(base, "--basic-auth.username", w.user, "--basic-auth.password-file", w.passwordFile)...)
	if code != 1 || !strings.Contains(errs, "certificate") {
		t.Errorf("denials without the CA: exit %d, stderr %q; want 1 and a certificate error", code, errs)
	}
	t.Logf("without the CA: %s", errs)
	code, _, errs = run(append(base, "--tls.ca-file", w.caFile, "--basic-auth.username", w.user)...)
	if code != 2 {
		t.Errorf("--basic-auth.username without a password file: exit %d, stderr %q; want a usage error", code, errs)
	}
}
