// Package deploy holds no code: its tests check the files shipped under
// deploy/ against the real things they are for. They start Debian's
// Prometheus on loopback with the shipped rules (deploy/prometheus/),
// scraping a running `seccompwatch run` that sees real seccomp denials, and
// run every query of the Grafana dashboard (deploy/grafana/) against it.
package deploy
