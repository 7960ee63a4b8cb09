#!/usr/bin/env bash
# check_format.sh ROOT: every tracked or new C source under ROOT is
# formatted as .clang-format says; lists the files that are not.
set -euo pipefail
cd "$1"
command -v clang-format >/dev/null || { echo "clang-format is not installed"; exit 1; }
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' 2>/dev/null ||
	find . -path ./build -prune -o \( -name '*.c' -o -name '*.h' \) -print)
[ ${#files[@]} -gt 0 ] || { echo "no C files found"; exit 1; }
bad=0
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run: clang-format -i $f)"
		bad=1
	fi
done
[ $bad -eq 0 ] && echo "${#files[@]} files formatted"
exit $bad
