# The README's "Exposing the port" under a real systemd: the shipped unit
# plus its drop-in (copied from the README), LoadCredential= handing the
# root-only web config, certificate and key to the User=seccompwatch service,
# %d naming them in --web.config.file, TLS and basic auth on :9872, and the
# IP filter extended by IPAddressAllow=. The clients are the CLI's own
# --tls.* and --basic-auth.* options, over loopback.
. "$E2E/lib.sh"

install -m 0755 "$E2E/bin/seccompwatch" /usr/bin/seccompwatch
install -m 0644 "$E2E/seccompwatch.service" /etc/systemd/system/seccompwatch.service
sysusers_add # the unit's User=seccompwatch, as the README says to without the package
install -d -m 0700 /etc/seccompwatch
install -m 0600 "$E2E/web/web-config.yml" "$E2E/web/tls.crt" "$E2E/web/tls.key" /etc/seccompwatch/
install -m 0600 "$E2E/web/password" /root/seccompwatch.password
install -d /etc/systemd/system/seccompwatch.service.d
install -m 0644 "$E2E/web/50-remote-scrape.conf" /etc/systemd/system/seccompwatch.service.d/
cleanup() {
	systemctl stop seccompwatch.service || true
	rm -rf /etc/systemd/system/seccompwatch.service* /etc/seccompwatch /root/seccompwatch.password
	systemctl daemon-reload
	sysusers_del
}
trap cleanup EXIT
systemctl daemon-reload
systemctl start seccompwatch.service || {
	journalctl -u seccompwatch.service --no-pager | tail -n 30
	fail "start with the README's drop-in"
}

client=(seccompwatch denials --server https://127.0.0.1:9872 --tls.ca-file /etc/seccompwatch/tls.crt)
auth=(--basic-auth.username prometheus --basic-auth.password-file /root/seccompwatch.password)
wait_for 30 "${client[@]}" "${auth[@]}"
out=$("${client[@]}" "${auth[@]}" --output json) || fail "denials with TLS and basic auth: $out"
grep -q '"denials"' <<<"$out" || fail "denials with TLS and basic auth: $out"
echo "TLS and basic auth: ok"

if out=$("${client[@]}" 2>&1); then fail "answered without credentials: $out"; fi
grep -q "HTTP 401" <<<"$out" || fail "without credentials: $out"
if out=$(seccompwatch denials --server http://127.0.0.1:9872 2>&1); then fail "answered plain HTTP: $out"; fi
grep -q "HTTP 400" <<<"$out" || fail "plain HTTP: $out"
echo "refused: no credentials (401), plain HTTP (400)"

journalctl -u seccompwatch.service --no-pager -o cat | grep -q '"msg":"TLS is enabled."' ||
	fail "no 'TLS is enabled.' line in the journal"
# The service read the key through its credentials directory, not /etc.
[[ $(stat -c %a /etc/seccompwatch/tls.key) == 600 ]] || fail "key mode changed"
systemctl show -p ExecStart --value seccompwatch.service | grep -q -- "--web.config.file=/run/credentials/seccompwatch.service/web-config.yml" ||
	fail "ExecStart: $(systemctl show -p ExecStart --value seccompwatch.service)"
allow=$(systemctl show -p IPAddressAllow --value seccompwatch.service)
deny=$(systemctl show -p IPAddressDeny --value seccompwatch.service)
echo "IPAddressAllow=$allow IPAddressDeny=$deny"
grep -q "192.0.2.10" <<<"$allow" && grep -q "127.0.0.0/8" <<<"$allow" || fail "IPAddressAllow=$allow"
grep -q "0.0.0.0/0" <<<"$deny" || fail "IPAddressDeny=$deny"
ss -ltnH 'sport = :9872' | grep -q . || fail "not listening on :9872"
