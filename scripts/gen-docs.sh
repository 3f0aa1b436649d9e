#!/bin/sh
# Generate the man page and the shell completions from the program's own
# help (kingpin's --help-man, --completion-script-bash and
# --completion-script-zsh; kingpin has no fish), for a package build:
#   scripts/gen-docs.sh BINARY OUTDIR
# writes OUTDIR/man/man1/seccompwatch.1.gz (gzip -n: reproducible),
# OUTDIR/completions/bash/seccompwatch and OUTDIR/completions/zsh/_seccompwatch,
# the paths a package installs them under (share/man/man1,
# share/bash-completion/completions, share/zsh/vendor-completions).
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 BINARY OUTDIR" >&2
	exit 2
fi
bin=$1
out=$2
mkdir -p "$out/man/man1" "$out/completions/bash" "$out/completions/zsh"
"$bin" --help-man >"$out/man/man1/seccompwatch.1.tmp"
gzip -9 -n -c "$out/man/man1/seccompwatch.1.tmp" >"$out/man/man1/seccompwatch.1.gz"
rm -f "$out/man/man1/seccompwatch.1.tmp"
"$bin" --completion-script-bash >"$out/completions/bash/seccompwatch"
"$bin" --completion-script-zsh >"$out/completions/zsh/_seccompwatch"
echo "wrote $out/man/man1/seccompwatch.1.gz $out/completions/bash/seccompwatch $out/completions/zsh/_seccompwatch"
