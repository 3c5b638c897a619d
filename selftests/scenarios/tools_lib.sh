# SPDX-License-Identifier: GPL-2.0
# Shell helpers of the tools_* scenarios (sourced in the guest with
# g.run_file('tools_lib.sh'), after /lib/ktap.sh, which has start_bg,
# end_bg and diag).

# jstr LINE NAME / jnum LINE NAME: a member of one line of ivshmem-info --json
jstr() { echo "$1" | sed -n "s/.*\"$2\": \"\([^\"]*\)\".*/\1/p"; }
jnum() { echo "$1" | sed -n "s/.*\"$2\": \([^,}\"]*\)[,}].*/\1/p"; }

# devline KIND: the ivshmem-info --json line of the first device of KIND
devline() { ivshmem-info --json | grep "\"kind\": \"$1\"" | head -n 1; }
devpath() { jstr "$(devline "$1")" path; }

# sum_counts FILE: total of the "vector V count C" lines of ivshmem-wait
sum_counts() { awk '{ n += $4 } END { print n + 0 }' "$1"; }

# one_line FILE: the file has exactly one line
one_line() { [ "$(wc -l < "$1")" -eq 1 ]; }

# percentiles ROW FILE: ivshmem-bench's text output in FILE has the row ROW
# (interrupt, busy-poll, ...) with min, p50, p99 and max in microseconds
percentiles() {
	grep -Eq "^  $1 +min +[0-9.]+ us +p50 +[0-9.]+ us +p99 +[0-9.]+ us +max +[0-9.]+ us\$" "$2"
}
