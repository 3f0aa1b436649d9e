package cli

import (
	"fmt"
	"net/http"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/config"
)

// daemonServer is where and how the commands that read a running daemon
// reach it: --server, and the TLS and basic-auth options that match a
// daemon started with --web.config.file (exporter-toolkit). The names and
// meanings are those of a Prometheus scrape config's tls_config and
// basic_auth.
type daemonServer struct {
	URL          string
	CAFile       string
	CertFile     string
	KeyFile      string
	ServerName   string
	Insecure     bool
	Username     string
	PasswordFile string
}

// Environment variables the client options default to.
const (
	caFileEnv       = "SECCOMPWATCH_TLS_CA_FILE"
	usernameEnv     = "SECCOMPWATCH_BASIC_AUTH_USERNAME"
	passwordFileEnv = "SECCOMPWATCH_BASIC_AUTH_PASSWORD_FILE"
)

// serverFlag adds --server and the client's TLS and basic-auth flags to c.
func serverFlag(c *kingpin.CmdClause) *daemonServer {
	s := &daemonServer{}
	c.Flag("server", "URL of a running seccompwatch daemon (https:// for one whose --web.config.file enables TLS), or the environment variable:").
		Default("http://" + DefaultListenAddress).Envar(serverEnv).StringVar(&s.URL)
	c.Flag("tls.ca-file", "CA certificate(s) to verify the daemon's certificate with (default: the system's roots), or the environment variable:").
		PlaceHolder("FILE").Envar(caFileEnv).StringVar(&s.CAFile)
	c.Flag("tls.cert-file", "Client certificate, for a daemon whose web config asks for one (client_auth_type).").PlaceHolder("FILE").StringVar(&s.CertFile)
	c.Flag("tls.key-file", "Key of --tls.cert-file.").PlaceHolder("FILE").StringVar(&s.KeyFile)
	c.Flag("tls.server-name", "Name to verify the daemon's certificate against, when it is not the --server host.").PlaceHolder("NAME").StringVar(&s.ServerName)
	c.Flag("tls.insecure-skip-verify", "Do not verify the daemon's certificate (tests only: anyone on the path can read and change the answers).").BoolVar(&s.Insecure)
	c.Flag("basic-auth.username", "User name for a daemon whose web config sets basic_auth_users, or the environment variable:").PlaceHolder("USER").Envar(usernameEnv).StringVar(&s.Username)
	c.Flag("basic-auth.password-file", "File holding the --basic-auth.username user's password (never on the command line, where every local user can read it), or the environment variable:").
		PlaceHolder("FILE").Envar(passwordFileEnv).StringVar(&s.PasswordFile)
	return s
}

// client returns the HTTP client for the daemon, with the TLS and basic-auth
// options applied (files are read at each request, as Prometheus does).
func (s daemonServer) client() (*http.Client, error) {
	cfg := config.HTTPClientConfig{
		TLSConfig: config.TLSConfig{
			CAFile: s.CAFile, CertFile: s.CertFile, KeyFile: s.KeyFile,
			ServerName: s.ServerName, InsecureSkipVerify: s.Insecure,
		},
		FollowRedirects: true,
		EnableHTTP2:     true,
	}
	if s.Username != "" || s.PasswordFile != "" {
		if s.Username == "" || s.PasswordFile == "" {
			return nil, usagef("--basic-auth.username and --basic-auth.password-file go together")
		}
		cfg.BasicAuth = &config.BasicAuth{Username: s.Username, PasswordFile: s.PasswordFile}
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return nil, usagef("--tls.cert-file and --tls.key-file go together")
	}
	if err := cfg.Validate(); err != nil {
		return nil, usagef("client options: %v", err)
	}
	c, err := config.NewClientFromConfig(cfg, "seccompwatch")
	if err != nil {
		return nil, fmt.Errorf("client options: %v", err)
	}
	c.Timeout = 15 * time.Second
	return c, nil
}
