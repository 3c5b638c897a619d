// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * listener.c - the UNIX socket ivshmem-server listens on
 *
 * Either bound here (replacing a stale socket file, refusing a live one)
 * or passed in by systemd socket activation: the service manager sets
 * LISTEN_PID to our PID and LISTEN_FDS to the number of sockets, which
 * start at descriptor 3.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "setup.h"

#define LISTEN_FDS_START 3

static int sockopt_int(int fd, int opt)
{
	socklen_t len = sizeof(int);
	int val = -1;

	if (getsockopt(fd, SOL_SOCKET, opt, &val, &len) < 0)
		return -1;
	return val;
}

static bool parse_env_long(const char *name, long *val)
{
	const char *s = getenv(name);
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*val = strtol(s, &end, 10);
	return !errno && !*end;
}

/* Return: 1 when systemd passed the socket, 0 when not, -1 on error. */
static int listener_activated(struct listener *l)
{
	long pid, n;
	int fd = LISTEN_FDS_START;

	if (!parse_env_long("LISTEN_PID", &pid) || pid != (long)getpid())
		return 0;
	if (!parse_env_long("LISTEN_FDS", &n))
		n = 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n != 1) {
		log_err("socket activation: %ld sockets passed, expected one", n);
		return -1;
	}
	if (sockopt_int(fd, SO_DOMAIN) != AF_UNIX || sockopt_int(fd, SO_TYPE) != SOCK_STREAM ||
	    sockopt_int(fd, SO_ACCEPTCONN) != 1) {
		log_err("socket activation: descriptor %d is not a listening UNIX stream socket",
			fd);
		return -1;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		log_err("socket activation: cannot set up descriptor %d: %s", fd, strerror(errno));
		return -1;
	}
	l->fd = fd;
	l->activated = true;
	log_debug("listening on the socket passed by the service manager");
	return 1;
}

/*
 * A socket file already there: a server that accepts connections on it is
 * alive and keeps it; one that refuses them has died and left it behind.
 */
static int check_existing(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, ret;

	if (lstat(sun->sun_path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket", sun->sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_err("cannot create socket: %s", strerror(errno));
		return -1;
	}
	ret = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (ret == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		log_err("%s: another server is listening there", sun->sun_path);
		ret = -1;
	} else if (errno == ECONNREFUSED) {
		log_debug("replacing stale socket %s", sun->sun_path);
		ret = unlink(sun->sun_path);
		if (ret < 0 && errno != ENOENT)
			log_err("cannot remove stale socket %s: %s", sun->sun_path,
				strerror(errno));
		else
			ret = 0;
	} else if (errno == ENOENT) {
		ret = 0;
	} else {
		log_err("cannot check existing socket %s: %s", sun->sun_path, strerror(errno));
		ret = -1;
	}
	close(fd);
	return ret;
}

static int listener_bind(struct listener *l)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(l->path);
	struct stat st;
	mode_t old = 0;
	int ret;

	if (!len || len >= sizeof(sun.sun_path)) {
		log_err("socket path must have 1 to %zu bytes: '%s'", sizeof(sun.sun_path) - 1,
			l->path);
		return -1;
	}
	memcpy(sun.sun_path, l->path, len + 1);
	if (check_existing(&sun) < 0)
		return -1;

	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0) {
		log_err("cannot create socket: %s", strerror(errno));
		return -1;
	}
	/* With a mode to set, nobody else may connect in between. */
	if (l->mode != (mode_t)-1)
		old = umask(0177);
	ret = bind(l->fd, (struct sockaddr *)&sun, sizeof(sun));
	if (l->mode != (mode_t)-1)
		umask(old);
	if (ret < 0) {
		log_err("cannot bind socket %s: %s", l->path, strerror(errno));
		goto err_close;
	}
	if (stat(l->path, &st) < 0) {
		log_err("cannot stat socket %s: %s", l->path, strerror(errno));
		goto err_unlink;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	if (l->gid != (gid_t)-1 && chown(l->path, (uid_t)-1, l->gid) < 0) {
		log_err("cannot set group of socket %s: %s", l->path, strerror(errno));
		goto err_unlink;
	}
	if (l->mode != (mode_t)-1 && chmod(l->path, l->mode) < 0) {
		log_err("cannot set mode of socket %s: %s", l->path, strerror(errno));
		goto err_unlink;
	}
	if (listen(l->fd, SOMAXCONN) < 0) {
		log_err("cannot listen on socket %s: %s", l->path, strerror(errno));
		goto err_unlink;
	}
	return 0;

err_unlink:
	unlink(l->path);
err_close:
	close(l->fd);
	l->fd = -1;
	return -1;
}

int listener_setup(struct listener *l)
{
	int ret;

	l->fd = -1;
	l->activated = false;
	ret = listener_activated(l);
	if (ret)
		return ret < 0 ? -1 : 0;
	return listener_bind(l);
}

void listener_teardown(struct listener *l)
{
	struct stat st;

	if (l->fd < 0)
		return;
	close(l->fd);
	l->fd = -1;
	/* Leave a socket file that is no longer ours (or systemd's) alone. */
	if (l->activated || stat(l->path, &st) < 0 || st.st_dev != l->dev || st.st_ino != l->ino)
		return;
	if (unlink(l->path) < 0)
		log_warn("cannot remove socket %s: %s", l->path, strerror(errno));
}
