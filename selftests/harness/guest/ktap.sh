# Shell helpers for guest scenario scripts: KTAP result lines.
#   check NAME CMD...      run CMD; "ok N NAME" when it exits 0
#   check_fail NAME CMD... "ok N NAME" when CMD exits non-zero
#   check_eq NAME A B      "ok N NAME" when the strings are equal
#   skip NAME REASON       "ok N NAME # SKIP REASON"
# and for commands that must run while the script goes on:
#   start_bg NAME READY CMD...  CMD in the background, once it is armed
#   end_bg NAME                 its exit status, its stderr as diagnostics
#   diag FILE...                files as KTAP diagnostics
# and for a kselftest program among the script's own checks:
#   ksft CMD...                 run it; its KTAP is judged on its own
# and in a guest declared with udev=True (systemd-udevd, the project's rules):
#   udev_start                  start systemd-udevd, its debug log in
#                               /tmp/udevd.log
#   udev_add SUBSYSTEM...       an "add" event for each device of these
#                               subsystems, and wait until udev is done
#   udev_stop                   stop systemd-udevd
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

diag() {
	sed 's/^/# /' "$@"
}

# start_bg NAME READY CMD...: run CMD in the background, output in
# /tmp/NAME.out and /tmp/NAME.err; return once its stderr has READY (it is
# armed), or fail if it exits first or takes 60 s.
start_bg() {
	_f=/tmp/$1
	_ready=$2
	shift 2
	"$@" > $_f.out 2> $_f.err &
	echo $! > $_f.pid
	for _i in $(seq 1 600); do
		grep -q "$_ready" $_f.err 2>/dev/null && return 0
		kill -0 "$(cat $_f.pid)" 2>/dev/null || break
		sleep 0.1
	done
	diag $_f.err
	return 1
}

# end_bg NAME: wait for what start_bg started; its exit status, and its
# stderr as diagnostics
end_bg() {
	wait "$(cat /tmp/$1.pid)"
	_rc=$?
	diag /tmp/$1.err
	return $_rc
}

# ksft CMD...: run a kselftest program in the middle of the script.  Its
# KTAP output (a header, the plan, the results) is judged as a block of its
# own: a new header after it closes the block, so the script's later checks
# are not counted against its plan.  Its failed tests are its own "not ok"
# lines; an exit other than 0, 1 (some failed) or 4 (all skipped), such as
# a crash, is a failure of the script.
ksft() {
	"$@"
	_rc=$?
	echo "TAP version 13"
	case $_rc in
	0 | 1 | 4) return 0 ;;
	esac
	_ktap fail "${1##*/} exited with status $_rc"
	return $_rc
}

# udev_start: systemd-udevd in the background, logging to /tmp/udevd.log;
# returns once it answers, or fails after 30 s.
udev_start() {
	SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=debug \
		/lib/systemd/systemd-udevd > /tmp/udevd.log 2>&1 &
	echo $! > /tmp/udevd.pid
	for _i in $(seq 1 300); do
		udevadm control --ping 2>/dev/null && return 0
		kill -0 "$(cat /tmp/udevd.pid)" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 /tmp/udevd.log | diag
	return 1
}

# udev_add SUBSYSTEM...: replay "add" for their devices and wait for udev
udev_add() {
	_m=
	for _s in "$@"; do
		_m="$_m --subsystem-match=$_s"
	done
	# shellcheck disable=SC2086
	udevadm trigger --action=add $_m && udevadm settle --timeout=120
}

# udev_stop: stop systemd-udevd and wait for it
udev_stop() {
	udevadm control --exit 2>/dev/null
	wait "$(cat /tmp/udevd.pid)" 2>/dev/null
	return 0
}
