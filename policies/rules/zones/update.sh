#!/bin/sh
# Regenerates src/schedule/zones.tsv: every zone of the system's IANA tz database (Debian's
# tzdata) with the POSIX TZ rule at the end of its TZif file, the rule it follows from now on.
# Run it after a tzdata release and commit the result: `sh zones/update.sh`.
set -eu
out="$(cd "$(dirname "$0")/.." && pwd)/src/schedule/zones.tsv"
cd /usr/share/zoneinfo
{
    printf '# IANA time zone\tPOSIX TZ rule (tzdata %s; zones/update.sh)\n' "$(sed -n 's/^# version //p' tzdata.zi)"
    find . \( -type f -o -type l \) ! -path './posix/*' ! -path './right/*' ! -name localtime ! -name posixrules | sed 's|^\./||' | LC_ALL=C sort |
        while read -r name; do
            [ "$(head -c 4 "$name")" = TZif ] || continue
            printf '%s\t%s\n' "$name" "$(tail -n 1 "$name")"
        done
} >"$out.tmp"
mv "$out.tmp" "$out"
