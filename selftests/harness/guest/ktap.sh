# Shell helpers for guest scenario scripts: KTAP result lines.
#   check NAME CMD...      run CMD; "ok N NAME" when it exits 0
#   check_fail NAME CMD... "ok N NAME" when CMD exits non-zero
#   check_eq NAME A B      "ok N NAME" when the strings are equal
#   skip NAME REASON       "ok N NAME # SKIP REASON"
ktap_n=0
ktap_fails=0
_ktap() {
	ktap_n=$((ktap_n + 1))
	if [ "$1" = ok ]; then
		echo "ok $ktap_n $2"
	else
		echo "not ok $ktap_n $2"
		ktap_fails=$((ktap_fails + 1))
	fi
}
check() {
	_n=$1; shift
	if "$@"; then _ktap ok "$_n"; else _ktap fail "$_n"; fi
}
check_fail() {
	_n=$1; shift
	if "$@"; then _ktap fail "$_n"; else _ktap ok "$_n"; fi
}
check_eq() {
	if [ "$2" = "$3" ]; then
		_ktap ok "$1"
	else
		echo "# $1: got '$2', want '$3'"
		_ktap fail "$1"
	fi
}
skip() {
	ktap_n=$((ktap_n + 1))
	echo "ok $ktap_n $1 # SKIP $2"
}
