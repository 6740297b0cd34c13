# Shell helpers shared by tests/cli_*.sh (source it; it defines functions and two counters, nothing else).
# Every script ends with `summary`, whose "N passed, N failed" line tests/run.sh adds up.
pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# expect NAME EXIT_CODE REGEX_ON_OUTPUT -- command...   (stdout and stderr together; LAST keeps the output)
expect() {
  local name="$1" code="$2" re="$3"; shift 4
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  LAST="$out"
  if [ "$rc" -ne "$code" ]; then bad "$name: exit $rc, expected $code; output: $(echo "$out" | tail -5)"; return; fi
  if [ -n "$re" ] && ! echo "$out" | grep -Eq -- "$re"; then bad "$name: output lacks /$re/: $(echo "$out" | tail -5)"; return; fi
  ok "$name"
}

# the value of KEY in the "key: value" lines of LAST
key() { echo "$LAST" | awk -v k="$1" -F': ' '$1 == k {print $2}'; }

# close A B RELTOL [ABSTOL]: both are numbers (an empty string is never close) and |A-B| <= RELTOL*|B| + ABSTOL
close() {
  awk -v a="$1" -v b="$2" -v t="$3" -v e="${4:-1e-12}" 'BEGIN {
    if (a !~ /^[-+]?([0-9.]+([eE][-+]?[0-9]+)?|inf|nan)$/ || b !~ /^[-+]?([0-9.]+([eE][-+]?[0-9]+)?|inf|nan)$/) exit 1
    d = a - b; if (d < 0) d = -d; s = b < 0 ? -b : b; exit !(d <= t * s + e) }'
}
close_to() { # name a b reltol
  close "$2" "$3" "$4" && ok "$1" || bad "$1: '$2' vs '$3'"
}

# equal NAME A B: A and B are the same and not empty (two empty strings are a failure, not a match)
equal() {
  [ -n "$2" ] && [ "$2" = "$3" ] && ok "$1 ($2)" || bad "$1: '$2' vs '$3'"
}

# same_campaign NAME A.h5 B.h5: the numbers of two campaign files are equal (timings, hosts, ranks and
# attempts legitimately differ between runs)
H5DIFF_RUN_FIELDS=(--exclude-path /jobs/wall_seconds --exclude-path /jobs/host --exclude-path /jobs/rank
                   --exclude-path /jobs/attempts)
same_campaign() {
  if [ -s "$2" ] && [ -s "$3" ] && h5diff -q "${H5DIFF_RUN_FIELDS[@]}" "$2" "$3" >/dev/null 2>&1; then ok "$1"; else
    bad "$1: $(h5diff "${H5DIFF_RUN_FIELDS[@]}" "$2" "$3" 2>&1 | head -5 | tr '\n' ' ')"; fi
}

check_file() { # name path min_bytes
  local size; size=$(stat -c %s "$2" 2>/dev/null || echo 0)
  [ "$size" -ge "$3" ] && ok "$1 ($size bytes)" || bad "$1: $2 has $size bytes, expected >= $3"
}

# A tool that `make deps` installs is required: missing it is a failure, never a silent skip.
require_tool() { # tool...
  local t
  for t in "$@"; do command -v "$t" >/dev/null || bad "required tool '$t' is not installed (make deps installs it)"; done
}

summary() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
