// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * main.c - ivshmem-server: command line, daemon, pidfile and signals
 *
 * The short options and their defaults are those of QEMU's
 * contrib/ivshmem-server, so existing scripts and units keep working.
 * Exit status: 0 after a clean shutdown, 1 when something failed, 2 for
 * a bad command line.
 *
 * --label, --presence and --presence-vector ask for the region header
 * (<linux/ivshmem_region.h>): it is written here, once the memory is set
 * up and before the socket listens, and kept by the engine from then on.
 * Without them the memory is never mapped.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>

#include "log.h"
#include "server.h"
#include "setup.h"

#define DEFAULT_PIDFILE		"/var/run/ivshmem-server.pid"
#define DEFAULT_SOCKET		"/tmp/ivshmem_socket"
#define DEFAULT_SHM		"ivshmem"
#define DEFAULT_SIZE		(4ULL << 20)
#define DEFAULT_VECTORS		1
/*
 * The peer limit, and so the presence table, when --presence is given
 * without --max-peers: 256 entries are 2 KiB, a header of 8 KiB, where
 * 65536 would take 516 KiB of the memory and of every reader's copy.
 */
#define DEFAULT_PRESENCE_PEERS	256
#define DEFAULT_STALL_S		30
/* IDs per second that may become held, after a burst: see server.rst. */
#define DEFAULT_CHURN_RATE	10
#define DEFAULT_CHURN_BURST	1000
/* Sizes are rounded up to a power of two, which must fit in off_t. */
#define MAX_SIZE		(1ULL << 62)
/* Descriptors the server needs besides its peers'. */
#define BASE_FDS		16

#ifndef IVSHMEM_VERSION
#define IVSHMEM_VERSION		"0.1"
#endif

struct options {
	bool verbose;
	bool foreground;
	bool keep_shm;
	const char *pidfile;
	bool pidfile_given;
	unsigned int vectors;
	unsigned int max_peers;
	bool max_peers_given;
	unsigned int stall_timeout_s;
	unsigned int churn_rate, churn_burst;
	const char *label;
	bool presence;
	unsigned int presence_vector;
	const char *presence_vector_arg;	/* NULL: not given */
	struct shm shm;
	struct listener listener;
};

enum {
	OPT_MEMFD = 256,
	OPT_MAX_PEERS,
	OPT_SOCKET_MODE,
	OPT_SOCKET_GROUP,
	OPT_KEEP_SHM,
	OPT_STALL_TIMEOUT,
	OPT_CHURN_LIMIT,
	OPT_LABEL,
	OPT_PRESENCE,
	OPT_PRESENCE_VECTOR,
	OPT_VERSION,
};

static const struct option long_options[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "foreground",		no_argument,		NULL, 'F' },
	{ "pidfile",		required_argument,	NULL, 'p' },
	{ "socket",		required_argument,	NULL, 'S' },
	{ "shm",		required_argument,	NULL, 'M' },
	{ "shm-dir",		required_argument,	NULL, 'm' },
	{ "memfd",		no_argument,		NULL, OPT_MEMFD },
	{ "size",		required_argument,	NULL, 'l' },
	{ "vectors",		required_argument,	NULL, 'n' },
	{ "max-peers",		required_argument,	NULL, OPT_MAX_PEERS },
	{ "socket-mode",	required_argument,	NULL, OPT_SOCKET_MODE },
	{ "socket-group",	required_argument,	NULL, OPT_SOCKET_GROUP },
	{ "keep-shm",		no_argument,		NULL, OPT_KEEP_SHM },
	{ "stall-timeout",	required_argument,	NULL, OPT_STALL_TIMEOUT },
	{ "churn-limit",	required_argument,	NULL, OPT_CHURN_LIMIT },
	{ "label",		required_argument,	NULL, OPT_LABEL },
	{ "presence",		no_argument,		NULL, OPT_PRESENCE },
	{ "presence-vector",	required_argument,	NULL, OPT_PRESENCE_VECTOR },
	{ "version",		no_argument,		NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

static void usage(void)
{
	printf("Usage: " PROGNAME " [OPTION]...\n"
	       "Serve shared memory and doorbell eventfds to QEMU ivshmem-doorbell devices.\n"
	       "\n"
	       "  -S, --socket=PATH        UNIX socket to listen on (default " DEFAULT_SOCKET ")\n"
	       "  -M, --shm=NAME           POSIX shared memory object (default " DEFAULT_SHM ")\n"
	       "  -m, --shm-dir=DIR        unlinked file in DIR instead, e.g. a hugetlbfs mount\n"
	       "      --memfd              anonymous memfd instead\n"
	       "  -l, --size=SIZE          memory size (default 4M) as QEMU writes it, suffixes\n"
	       "                           B K M G T P E (64K, 1.5M, 0x1000); to a power of 2\n"
	       "  -n, --vectors=N          interrupt vectors per peer, 0-%u (default %u)\n"
	       "      --max-peers=N        peers at once, 1-%u (default %u, --presence %u)\n"
	       "      --label=NAME         name the memory in a region header at its end\n"
	       "      --presence           keep a table of the connected peers in the header\n"
	       "      --presence-vector=N  and ring vector N of the peers when it changes\n"
	       "  -F, --foreground         stay in the foreground (no PID file unless -p)\n"
	       "  -p, --pidfile=FILE       PID file (default " DEFAULT_PIDFILE ")\n"
	       "  -v, --verbose            log every peer that comes and goes\n"
	       "      --socket-mode=MODE   socket file permissions, octal (e.g. 0660)\n"
	       "      --socket-group=GROUP socket file group\n"
	       "      --keep-shm           keep the POSIX object on shutdown\n"
	       "      --stall-timeout=SEC  drop peers that lag this long (default %u, 0: never)\n"
	       "      --churn-limit=N[:B]  IDs per second peers may churn (default %u:%u)\n"
	       "  -h, --help, --version    show this help, or the version\n"
	       "LISTEN_FDS/LISTEN_PID (systemd socket activation) replace --socket.\n",
	       SERVER_MAX_VECTORS, DEFAULT_VECTORS, SERVER_MAX_PEERS, SERVER_MAX_PEERS,
	       DEFAULT_PRESENCE_PEERS, DEFAULT_STALL_S, DEFAULT_CHURN_RATE, DEFAULT_CHURN_BURST);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROGNAME ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '" PROGNAME " --help')\n");
	exit(2);
}

/* The multiplier of a size suffix (either case), or 0 for none. */
static uint64_t size_unit(char c)
{
	static const char suffixes[] = "BKMGTPE";
	const char *p = c ? strchr(suffixes, toupper((unsigned char)c)) : NULL;

	return p ? 1ULL << (10 * (p - suffixes)) : 0;
}

/*
 * A size as QEMU writes them (its own ivshmem-server parses -l with
 * QEMU's size parser), so that scripts written for it keep working:
 *
 *   - decimal digits, or hexadecimal after "0x" (where QEMU warns about a
 *     suffix, but takes it);
 *   - a decimal fraction after the digits, "1.5M", which needs a suffix
 *     of K or more, and is rounded to the nearest byte (half up);
 *   - an optional suffix B, K, M, G, T, P or E (powers of 1024, either
 *     case), which ours also takes followed by B ("4MB").
 *
 * No sign, no space, no exponent.  Fraction digits beyond the 18th do not
 * count.
 */
static bool parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, frac = 0, scale = 1, unit, part;
	bool hex = false, digits = false;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		hex = true;
		s += 2;
	}
	for (;; s++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (hex && isxdigit((unsigned char)*s))
			d = toupper((unsigned char)*s) - 'A' + 10;
		else
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / (hex ? 16 : 10))
			return false;
		v = v * (hex ? 16 : 10) + (uint64_t)d;
		digits = true;
	}
	if (!digits)
		return false;
	if (*s == '.' && !hex) {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			if (scale < 1000000000000000000ULL) {
				frac = frac * 10 + (uint64_t)(*s - '0');
				scale *= 10;
			}
		}
	}
	unit = size_unit(*s);
	if (unit) {
		s++;
		if (unit > 1 && toupper((unsigned char)*s) == 'B')
			s++;
	} else {
		unit = 1;
	}
	if (*s || (frac && unit == 1))
		return false;
	/* A fraction of at most 2^62: a long double holds it to the byte. */
	part = (uint64_t)((long double)frac / (long double)scale * (long double)unit + 0.5L);
	if (part > MAX_SIZE || v > (MAX_SIZE - part) / unit)
		return false;
	*out = v * unit + part;
	return true;
}

/*
 * An unsigned number in @base (8 or 10); in base 10, hexadecimal after
 * 0x is allowed too, but a leading zero does not make it octal.
 */
static bool parse_uint(const char *s, unsigned long max, int base, unsigned int *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	if (base == 10 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		base = 16;
		if (!isxdigit((unsigned char)*s))
			return false;
	}
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || *end || v > max)
		return false;
	*out = (unsigned int)v;
	return true;
}

static gid_t parse_group(const char *s)
{
	struct group *gr = getgrnam(s);
	unsigned int gid;

	if (gr)
		return gr->gr_gid;
	if (parse_uint(s, UINT_MAX - 1, 10, &gid))
		return (gid_t)gid;
	usage_error("unknown group '%s'", s);
}

static uint64_t pow2_ceil(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/*
 * The region header's options, once all are known: --presence-vector
 * implies --presence, must name a vector the peers have, and the memory
 * asked for must have room for the header.  Existing memory is only ever
 * grown, so what fits the size asked for fits the memory; on hugetlbfs
 * the size becomes a huge page at least (see shm.c).
 */
static void check_region_options(struct options *o)
{
	uint64_t size = pow2_ceil(o->shm.size);
	struct statfs fs;
	uint32_t header;

	if (o->presence_vector_arg) {
		o->presence = true;
		if (o->presence_vector >= o->vectors)
			usage_error("invalid presence vector '%s': must be below the number of "
				    "vectors (-n %u)", o->presence_vector_arg, o->vectors);
	}
	if (o->presence && !o->max_peers_given)
		o->max_peers = DEFAULT_PRESENCE_PEERS;
	if (!o->label && !o->presence)
		return;
	header = region_header_size(o->presence ? o->max_peers : 0);
	if (o->shm.kind == SHM_DIR && statfs(o->shm.name, &fs) == 0 &&
	    (unsigned long)fs.f_type == HUGETLBFS_MAGIC && (uint64_t)fs.f_bsize > size)
		size = (uint64_t)fs.f_bsize;
	if (size <= header)
		usage_error("memory of %llu bytes too small for the region header of %u bytes%s: "
			    "give --size=%lluK or more", (unsigned long long)size, header,
			    o->presence ? " with its presence table" : "",
			    (unsigned long long)(pow2_ceil(2ULL * header) >> 10));
}

static void parse_options(struct options *o, int argc, char **argv)
{
	unsigned int v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hvFp:S:m:M:l:n:", long_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage();
			exit(0);
		case OPT_VERSION:
			printf(PROGNAME " " IVSHMEM_VERSION "\n");
			exit(0);
		case 'v':
			o->verbose = true;
			break;
		case 'F':
			o->foreground = true;
			break;
		case 'p':
			o->pidfile = optarg;
			o->pidfile_given = true;
			break;
		case 'S':
			o->listener.path = optarg;
			break;
		case 'M':
			o->shm.kind = SHM_POSIX;
			o->shm.name = optarg;
			break;
		case 'm':
			o->shm.kind = SHM_DIR;
			o->shm.name = optarg;
			break;
		case OPT_MEMFD:
			o->shm.kind = SHM_MEMFD;
			break;
		case 'l':
			if (!parse_size(optarg, &o->shm.size))
				usage_error("invalid size '%s': bytes (decimal or 0x hex) with an optional suffix B, K, M, G, T, P or E, or a fraction with a suffix (1.5M), up to 4E",
					    optarg);
			if (!o->shm.size)
				usage_error("invalid size '%s': must not be zero", optarg);
			break;
		case 'n':
			if (!parse_uint(optarg, SERVER_MAX_VECTORS, 10, &o->vectors))
				usage_error("invalid number of vectors '%s': 0 to %u", optarg,
					    SERVER_MAX_VECTORS);
			break;
		case OPT_MAX_PEERS:
			if (!parse_uint(optarg, SERVER_MAX_PEERS, 10, &o->max_peers) || !o->max_peers)
				usage_error("invalid number of peers '%s': 1 to %u", optarg,
					    SERVER_MAX_PEERS);
			o->max_peers_given = true;
			break;
		case OPT_SOCKET_MODE:
			if (!parse_uint(optarg, 07777, 8, &v))
				usage_error("invalid socket mode '%s': octal, e.g. 0660", optarg);
			o->listener.mode = (mode_t)v;
			break;
		case OPT_SOCKET_GROUP:
			o->listener.gid = parse_group(optarg);
			break;
		case OPT_KEEP_SHM:
			o->keep_shm = true;
			break;
		case OPT_STALL_TIMEOUT:
			if (!parse_uint(optarg, 86400, 10, &o->stall_timeout_s))
				usage_error("invalid stall timeout '%s': 0 to 86400 seconds", optarg);
			break;
		case OPT_CHURN_LIMIT: {
			char rate[16];
			const char *colon = strchr(optarg, ':');
			size_t len = colon ? (size_t)(colon - optarg) : strlen(optarg);

			if (len >= sizeof(rate))
				len = sizeof(rate) - 1;
			memcpy(rate, optarg, len);
			rate[len] = '\0';
			if (!parse_uint(rate, 1000000, 10, &o->churn_rate) ||
			    (colon && (!parse_uint(colon + 1, SERVER_MAX_PEERS, 10, &o->churn_burst) ||
				       !o->churn_burst)))
				usage_error("invalid churn limit '%s': IDs per second (0: no limit), "
					    "optionally ':' and a burst of 1 to %u", optarg,
					    SERVER_MAX_PEERS);
			break;
		}
		case OPT_LABEL:
			if (region_label_check(optarg) < 0)
				usage_error("invalid label '%s': 1 to %d printable ASCII characters "
					    "other than '/', and not '.' or '..'", optarg,
					    IVSHMEM_REGION_LABEL_MAX - 1);
			o->label = optarg;
			break;
		case OPT_PRESENCE:
			o->presence = true;
			break;
		case OPT_PRESENCE_VECTOR:
			if (!parse_uint(optarg, SERVER_MAX_VECTORS - 1, 10, &o->presence_vector))
				usage_error("invalid presence vector '%s': a vector number, 0 to %u",
					    optarg, SERVER_MAX_VECTORS - 1);
			o->presence_vector_arg = optarg;
			break;
		case ':':
			usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	check_region_options(o);
}

/*
 * Every peer costs one descriptor for its socket and one per vector:
 * raise the soft limit (and, when permitted, the hard one) to cover the
 * peer limit.  Return: how many peers fit.
 */
static unsigned long long raise_nofile(const struct options *o)
{
	unsigned long long per_peer = o->vectors + 1ULL;
	unsigned long long need = o->max_peers * per_peer + BASE_FDS;
	unsigned long long nr_open = 0, target = need;
	struct rlimit rl;
	FILE *f;

	f = fopen("/proc/sys/fs/nr_open", "re");
	if (f) {
		if (fscanf(f, "%llu", &nr_open) == 1 && nr_open && target > nr_open)
			target = nr_open;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < target) {
		struct rlimit hard = { .rlim_cur = target, .rlim_max = target };

		/* Only with CAP_SYS_RESOURCE; else the hard limit stays. */
		if (setrlimit(RLIMIT_NOFILE, &hard) == 0)
			rl = hard;
	}
	if (rl.rlim_cur < target) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > target ?
			      target : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur >= need)
		return o->max_peers;
	if (rl.rlim_cur < BASE_FDS + per_peer)
		return 0;
	return (rl.rlim_cur - BASE_FDS) / per_peer;
}

/*
 * Fork; the parent exits once the child reports (through the returned
 * pipe) that it serves, and fails when the child dies before that.
 */
static int daemon_start(void)
{
	int pipefd[2], status;
	pid_t pid;
	char c;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		log_err("cannot become a daemon: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_err("cannot become a daemon: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		ssize_t n;

		close(pipefd[1]);
		do
			n = read(pipefd[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			_exit(0);
		/* The child has said why. */
		waitpid(pid, &status, 0);
		_exit(1);
	}
	close(pipefd[0]);
	setsid();
	/* Do not keep the directory we were started in busy (or mounted). */
	if (chdir("/") < 0)
		log_warn("cannot change to /: %s", strerror(errno));
	return pipefd[1];
}

static void daemon_ready(int fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	log_to_syslog();
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	if (write(fd, "", 1) != 1)
		log_warn("cannot report readiness: %s", strerror(errno));
	close(fd);
}

/*
 * The PID file is opened without following a symlink (a link planted in a
 * shared directory must not make us write elsewhere) and locked for as
 * long as the server runs: a second server given the same file refuses
 * to start instead of taking it over.  The lock is taken before anything
 * else is set up, and the PID written once it is known (after the fork).
 */
static int pidfile_lock(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == ELOOP)
			log_err("cannot open pidfile %s: it is a symbolic link", path);
		else
			log_err("cannot open pidfile %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	if (errno == EWOULDBLOCK) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		log_err("pidfile %s is locked: another server%s%s%s runs with it", path,
			*buf ? " (PID " : "", buf, *buf ? ")" : "");
	} else {
		log_err("cannot lock pidfile %s: %s", path, strerror(errno));
	}
	close(fd);
	return -1;
}

static int pidfile_write(int fd, const char *path)
{
	char buf[32];
	int len;

	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	errno = 0;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		log_err("cannot write pidfile %s: %s", path, strerror(errno ? errno : EIO));
		return -1;
	}
	return 0;
}

/* Remove the PID file while still holding its lock, then drop the lock. */
static void pidfile_remove(int fd, const char *path)
{
	if (fd < 0)
		return;
	unlink(path);
	close(fd);
}

/*
 * A daemon works in /, so relative paths it keeps using (socket and PID
 * file, removed on shutdown) are made absolute first.  Return: the path
 * to use (allocated when changed, stored in *@owned), or NULL.
 */
static const char *absolute_path(const char *path, char **owned)
{
	char cwd[PATH_MAX];

	*owned = NULL;
	if (path[0] == '/')
		return path;
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(owned, "%s/%s", cwd, path) < 0) {
		log_err("cannot make %s an absolute path: %s", path, strerror(errno));
		*owned = NULL;
		return NULL;
	}
	return *owned;
}

/*
 * The region header: a fresh one, with a new random instance, whatever
 * the memory held (the server owns its last bytes; see server.rst).
 */
static int region_setup(struct options *o, struct server_region *r)
{
	struct region_info *info = &r->info;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	do
		n = getrandom(&info->instance, sizeof(info->instance), 0);
	while (n < 0 && errno == EINTR);
	if (n != sizeof(info->instance)) {
		log_err("cannot get a random instance for the region header: %s",
			strerror(n < 0 ? errno : EIO));
		return -1;
	}
	info->presence_vector = IVSHMEM_REGION_NO_VECTOR;
	if (o->label) {
		info->flags |= IVSHMEM_REGION_F_LABEL;
		snprintf(info->label, sizeof(info->label), "%s", o->label);
	}
	if (o->presence) {
		info->flags |= IVSHMEM_REGION_F_PRESENCE;
		info->max_peers = o->max_peers;
		if (o->presence_vector_arg)
			info->presence_vector = o->presence_vector;
	}
	info->header_size = region_header_size(info->max_peers);
	/* Checked with the options; this is the memory as it came out. */
	if (info->header_size >= o->shm.size) {
		log_err("memory of %llu bytes too small for the region header of %u bytes",
			(unsigned long long)o->shm.size, info->header_size);
		return -1;
	}
	return shm_header_setup(&o->shm, info, &r->page, &r->table);
}

int main(int argc, char **argv)
{
	struct options o = {
		.pidfile = DEFAULT_PIDFILE,
		.vectors = DEFAULT_VECTORS,
		.max_peers = SERVER_MAX_PEERS,
		.stall_timeout_s = DEFAULT_STALL_S,
		.churn_rate = DEFAULT_CHURN_RATE,
		.churn_burst = DEFAULT_CHURN_BURST,
		.shm = { .kind = SHM_POSIX, .name = DEFAULT_SHM, .size = DEFAULT_SIZE },
		.listener = { .path = DEFAULT_SOCKET, .mode = (mode_t)-1, .gid = (gid_t)-1 },
	};
	struct server_region region = { 0 };
	struct server_config cfg;
	struct signalfd_siginfo si;
	struct server *srv = NULL;
	char *pid_abs = NULL, *sock_abs = NULL;
	int ready = -1, sigfd = -1, pidfd = -1, ret;
	unsigned long long fit;
	sigset_t mask;

	parse_options(&o, argc, argv);
	log_init(o.verbose);

	/*
	 * Signals that stop the server wait in a signalfd, so a signal at any
	 * point from here on still leads to a clean shutdown.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	fit = raise_nofile(&o);
	if (!fit) {
		log_err("open-file limit too low for a single peer with %u vectors", o.vectors);
		return 1;
	}
	/* Asked for explicitly, a peer limit that cannot be met is worth a word. */
	if (fit < o.max_peers && o.max_peers_given)
		log_warn("open-file limit allows only %llu of %u peers with %u vectors each",
			 fit, o.max_peers, o.vectors);
	else if (fit < o.max_peers)
		log_debug("open-file limit allows %llu of %u peers with %u vectors each",
			  fit, o.max_peers, o.vectors);

	if (!o.foreground) {
		o.pidfile = absolute_path(o.pidfile, &pid_abs);
		o.listener.path = absolute_path(o.listener.path, &sock_abs);
		if (!o.pidfile || !o.listener.path)
			goto err_paths;
	}
	/* First, so that a second server on the same PID file touches nothing. */
	if (!o.foreground || o.pidfile_given) {
		pidfd = pidfile_lock(o.pidfile);
		if (pidfd < 0)
			goto err_paths;
	}
	if (shm_setup(&o.shm) < 0)
		goto err_pidfile;
	if (o.label || o.presence) {
		if (region_setup(&o, &region) < 0)
			goto err_shm;
	} else {
		shm_header_warn_stale(&o.shm);
	}
	if (listener_setup(&o.listener) < 0)
		goto err_shm;
	if (!o.foreground) {
		ready = daemon_start();
		if (ready < 0)
			goto err_listener;
	}
	if (pidfd >= 0 && pidfile_write(pidfd, o.pidfile) < 0)
		goto err_listener;
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0) {
		log_err("cannot watch signals: %s", strerror(errno));
		goto err_listener;
	}
	cfg = (struct server_config) {
		.listen_fd = o.listener.fd,
		.shm_fd = o.shm.fd,
		.stop_fd = sigfd,
		.vectors = o.vectors,
		.max_peers = o.max_peers,
		.stall_timeout_ms = o.stall_timeout_s * 1000,
		.churn_rate = o.churn_rate,
		.churn_burst = o.churn_burst,
		.region = region,
	};
	srv = server_new(&cfg);
	if (!srv) {
		log_err("cannot start serving: %s", strerror(errno));
		goto err_listener;
	}
	log_debug("serving %" PRIu64 " bytes of shared memory and %u vectors per peer on %s",
		  o.shm.size, o.vectors, o.listener.activated ? "the activated socket" :
		  o.listener.path);
	if (ready >= 0)
		daemon_ready(ready);

	ret = server_run(srv);
	if (ret < 0)
		log_err("event loop failed: %s", strerror(-ret));
	else if (read(sigfd, &si, sizeof(si)) == sizeof(si))
		log_debug("stopping on %s", strsignal((int)si.ssi_signo));

	server_free(srv);
	close(sigfd);
	listener_teardown(&o.listener);
	shm_teardown(&o.shm, !o.keep_shm);
	pidfile_remove(pidfd, o.pidfile);
	free(pid_abs);
	free(sock_abs);
	return ret < 0 ? 1 : 0;

err_listener:
	if (sigfd >= 0)
		close(sigfd);
	listener_teardown(&o.listener);
err_shm:
	shm_teardown(&o.shm, o.shm.created);
err_pidfile:
	pidfile_remove(pidfd, o.pidfile);
err_paths:
	free(pid_abs);
	free(sock_abs);
	return 1;
}
