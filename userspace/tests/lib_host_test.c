// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lib_host_test - libivshmem's host backend against a real ivshmem-server
 *
 *   lib_host_test peers SOCK         two host peers: IDs, memory, rings both
 *                                    ways, epoll, coalescing, threads, bad
 *                                    arguments, the peer table on disconnect
 *   lib_host_test dead SOCK          prints "ready", reads a line (meanwhile
 *                                    the caller kills the server), then
 *                                    checks what the handles say
 *   lib_host_test open SPEC ERRNO    ivshmem_open(SPEC) fails with -ERRNO
 *                                    (a name: ENOENT, ECONNREFUSED, ...)
 *
 * Prints "ok - name" / "not ok - name: detail" lines (tests/run.py numbers
 * them) and exits 1 if any failed.  Runs under ASan/UBSan.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "libivshmem.h"

/* Evaluates @ret once: it is often the call under test. */
#define CHECK_RET(ret, want, name) check_ret((ret), (want), (name))


static bool has_peer(struct ivshmem *dev, unsigned int id)
{
	unsigned int ids[64];
	int n = ivshmem_peers(dev, ids, 64);

	for (int i = 0; i < n && i < 64; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Dispatch until @dev sees (or no longer sees) peer @id, or 5 s pass. */
static bool await_peer(struct ivshmem *dev, unsigned int id, bool present)
{
	int64_t deadline = now_ms() + 5000;

	while (has_peer(dev, id) != present) {
		struct pollfd pfd = { .fd = ivshmem_fd(dev), .events = POLLIN };

		if (now_ms() > deadline)
			return false;
		if (poll(&pfd, 1, 100) > 0 && ivshmem_dispatch(dev) < 0)
			return false;
	}
	return true;
}

struct waiter {
	struct ivshmem *dev;
	unsigned int vector;
	int ret;
	struct ivshmem_irq irq;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = ivshmem_wait(w->dev, &w->vector, 1, 5000, &w->irq);
	return NULL;
}

static int test_peers(const char *spec)
{
	struct ivshmem *a = NULL, *b = NULL;
	struct ivshmem_irq irq;
	unsigned int v, ids[4];
	char *ma, *mb, *odd;
	int ret, ida, idb, ep;

	ret = ivshmem_open(spec, &a);
	if (!CHECK_RET(ret, 0, "first peer opens the server socket"))
		return 1;
	ret = ivshmem_open(spec, &b);
	if (!CHECK_RET(ret, 0, "second peer opens the server socket"))
		return 1;
	ida = ivshmem_id(a);
	idb = ivshmem_id(b);
	check(ida >= 0 && idb >= 0 && ida != idb, "the peers have distinct IDs",
	      "ids %d and %d", ida, idb);
	check(ivshmem_backend(a) == IVSHMEM_BACKEND_HOST &&
	      strcmp(ivshmem_backend_name(ivshmem_backend(a)), "host") == 0,
	      "the backend is the host one", "backend %d", ivshmem_backend(a));
	check(strcmp(ivshmem_path(a), spec) == 0, "ivshmem_path() is the spec", "%s",
	      ivshmem_path(a));
	check(ivshmem_memtype(a) == IVSHMEM_MEM_WB &&
	      strcmp(ivshmem_memtype_name(ivshmem_memtype(a)), "write-back") == 0,
	      "a host peer's default mapping is write-back", "memtype %d",
	      (int)ivshmem_memtype(a));
	check(strcmp(ivshmem_memtype_name(IVSHMEM_MEM_UC_MINUS), "uncached-minus") == 0 &&
	      strcmp(ivshmem_memtype_name(IVSHMEM_MEM_WC), "write-combining") == 0 &&
	      strcmp(ivshmem_memtype_name(IVSHMEM_MEM_UNKNOWN), "unknown") == 0 &&
	      strcmp(ivshmem_memtype_name((enum ivshmem_memtype)99), "unknown") == 0,
	      "ivshmem_memtype_name() names every type, and unknown ones as unknown", "%s",
	      ivshmem_memtype_name(IVSHMEM_MEM_UC_MINUS));
	check(ivshmem_size(a) == 1 << 20 && ivshmem_size(b) == 1 << 20,
	      "both see the server's 1 MiB", "sizes %" PRIu64 " %" PRIu64, ivshmem_size(a),
	      ivshmem_size(b));
	check(ivshmem_vectors(a) == 4 && ivshmem_vectors(b) == 4, "both have the server's 4 vectors",
	      "vectors %u %u", ivshmem_vectors(a), ivshmem_vectors(b));
	check(ivshmem_can_ring(a) == 1, "a host peer can ring", "can_ring %d",
	      ivshmem_can_ring(a));
	check(has_peer(b, (unsigned int)ida), "the second peer knows the first from the greeting",
	      "peers of b lack %d", ida);
	check(await_peer(a, (unsigned int)idb, true),
	      "the first peer learns of the second through ivshmem_dispatch()",
	      "peer %d never appeared", idb);
	ret = ivshmem_peers(a, ids, 4);
	check(ret == 1 && ids[0] == (unsigned int)idb, "ivshmem_peers() lists exactly the other",
	      "n=%d", ret);
	ret = ivshmem_peers(a, NULL, 0);
	check(ret == 1, "ivshmem_peers(NULL, 0) counts", "n=%d", ret);

	/* shared memory */
	ret = ivshmem_map(a, 0, 0, IVSHMEM_MAP_DEFAULT, (void **)&ma);
	CHECK_RET(ret, 0, "map the whole memory");
	ret = ivshmem_map(b, 4096, 4096, IVSHMEM_MAP_WB, (void **)&mb);
	CHECK_RET(ret, 0, "map a page at an offset, write-back");
	if (ma && mb) {
		strcpy(ma + 4096, "written by a");
		check(strcmp(mb, "written by a") == 0, "what one peer writes, the other reads",
		      "read '%.16s'", mb);
	}
	ret = ivshmem_map(b, 4100, 10, IVSHMEM_MAP_DEFAULT, (void **)&odd);
	CHECK_RET(ret, 0, "map at an offset that is not page aligned");
	if (ret == 0) {
		check(memcmp(odd, "ten by a", 8) == 0, "the unaligned map points at its offset",
		      "read '%.8s'", odd);
		CHECK_RET(ivshmem_unmap(odd, 10), 0, "unmap the unaligned map");
	}
	ret = ivshmem_map(a, (1 << 20) - 10, 11, IVSHMEM_MAP_DEFAULT, (void **)&odd);
	CHECK_RET(ret, -EINVAL, "a map past the end is refused");
	ret = ivshmem_map(a, 1 << 20, 0, IVSHMEM_MAP_DEFAULT, (void **)&odd);
	CHECK_RET(ret, -EINVAL, "a map at the end is refused");
	ret = ivshmem_map(a, 0, 4096, IVSHMEM_MAP_WC, (void **)&odd);
	CHECK_RET(ret, -EOPNOTSUPP, "write-combining is not offered on the host");
	ret = ivshmem_map(a, 0, 4096, (enum ivshmem_map_mode)7, (void **)&odd);
	CHECK_RET(ret, -EINVAL, "an unknown map mode is refused");

	/* rings, a to b */
	ret = ivshmem_ring(a, (unsigned int)idb, 2);
	CHECK_RET(ret, 0, "ring the other peer's vector 2");
	v = 2;
	ret = ivshmem_wait(b, &v, 1, 5000, &irq);
	CHECK_RET(ret, 0, "the other peer wakes on vector 2");
	check(irq.vector == 2 && irq.count == 1, "it was vector 2, once", "vector %u count %" PRIu64,
	      irq.vector, irq.count);
	ret = ivshmem_wait(b, NULL, 0, 0, &irq);
	CHECK_RET(ret, -ETIMEDOUT, "nothing else is pending");
	ret = ivshmem_wait(b, NULL, 0, 200, &irq);
	CHECK_RET(ret, -ETIMEDOUT, "a wait with nothing rung times out");

	/* coalescing */
	for (int i = 0; i < 3; i++)
		ivshmem_ring(a, (unsigned int)idb, 1);
	v = 1;
	ret = ivshmem_wait(b, &v, 1, 5000, &irq);
	check(ret == 0 && irq.count == 3, "three rings before the wait count as 3",
	      "ret %d count %" PRIu64, ret, irq.count);

	/* b to a, through epoll */
	ep = epoll_create1(EPOLL_CLOEXEC);
	{
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = 3 }, got;
		int fd = ivshmem_vector_fd(a, 3);
		uint64_t count = 0;

		check(fd >= 0, "ivshmem_vector_fd() gives a descriptor", "%d", fd);
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
		CHECK_RET(ivshmem_vector_ack(a, 3, &count), -EAGAIN, "ack with nothing pending");
		CHECK_RET(ivshmem_ring(b, (unsigned int)ida, 3), 0, "ring back on vector 3");
		ret = epoll_wait(ep, &got, 1, 5000);
		check(ret == 1 && got.data.u32 == 3, "epoll sees vector 3", "epoll_wait %d", ret);
		ret = ivshmem_vector_ack(a, 3, &count);
		check(ret == 0 && count == 1, "ivshmem_vector_ack() consumes it", "ret %d count %"
		      PRIu64, ret, count);
		ret = epoll_wait(ep, &got, 1, 0);
		check(ret == 0, "and epoll goes quiet", "epoll_wait %d", ret);
		close(ep);
	}

	/* own ID */
	CHECK_RET(ivshmem_ring(a, (unsigned int)ida, 0), 0, "a peer may ring itself");
	v = 0;
	ret = ivshmem_wait(a, &v, 1, 5000, &irq);
	CHECK_RET(ret, 0, "and wakes");

	/* fairness: two vectors pending, both come out */
	ivshmem_ring(a, (unsigned int)idb, 0);
	ivshmem_ring(a, (unsigned int)idb, 3);
	{
		unsigned int seen = 0;

		for (int i = 0; i < 2; i++)
			if (ivshmem_wait(b, NULL, 0, 5000, &irq) == 0)
				seen |= 1u << irq.vector;
		check(seen == 0x9, "two pending vectors come out one per wait", "seen mask %#x",
		      seen);
	}

	/* threads: a waiter in another thread is woken */
	{
		struct waiter w = { .dev = b, .vector = 1 };
		pthread_t t;

		pthread_create(&t, NULL, wait_thread, &w);
		usleep(100000);
		ivshmem_ring(a, (unsigned int)idb, 1);
		pthread_join(t, NULL);
		check(w.ret == 0 && w.irq.vector == 1, "a waiting thread is woken by a ring",
		      "ret %d", w.ret);
	}

	/* bad arguments */
	CHECK_RET(ivshmem_ring(a, 9999, 0), -ENXIO, "ringing a peer that is not there: -ENXIO");
	CHECK_RET(ivshmem_ring(a, (unsigned int)idb, 4), -ENXIO,
		  "ringing a vector the peer lacks: -ENXIO");
	CHECK_RET(ivshmem_ring(a, 65536, 0), -EINVAL, "peer 65536: -EINVAL");
	CHECK_RET(ivshmem_ring(a, 0, 65536), -EINVAL, "vector 65536: -EINVAL");
	v = 4;
	CHECK_RET(ivshmem_wait(a, &v, 1, 0, &irq), -EINVAL, "waiting on vector 4 of 4: -EINVAL");
	CHECK_RET(ivshmem_vector_fd(a, 4), -EINVAL, "no descriptor for vector 4: -EINVAL");
	CHECK_RET(ivshmem_wait(a, &v, 0, 0, &irq), -EINVAL, "an empty vector set: -EINVAL");
	CHECK_RET(ivshmem_wait(a, NULL, 0, 0, NULL), -EINVAL, "no place for the result: -EINVAL");

	/* disconnect */
	if (mb)
		ivshmem_unmap(mb, 4096);
	ivshmem_close(b);
	check(await_peer(a, (unsigned int)idb, false),
	      "a peer that disconnects leaves the peer table", "peer %d still there", idb);
	CHECK_RET(ivshmem_ring(a, (unsigned int)idb, 0), -ENXIO,
		  "and ringing it gives -ENXIO");
	ret = ivshmem_open(spec, &b);
	CHECK_RET(ret, 0, "a new peer connects");
	if (ret == 0) {
		check(await_peer(a, (unsigned int)ivshmem_id(b), true), "and appears in the table",
		      "id %d", ivshmem_id(b));
		ivshmem_close(b);
	}
	if (ma)
		ivshmem_unmap(ma, 1 << 20);
	ivshmem_close(a);
	ivshmem_close(NULL);
	return failures ? 1 : 0;
}

static int test_dead(const char *spec)
{
	struct ivshmem *a, *b;
	struct ivshmem_irq irq;
	char line[16];
	int ret, idb;
	int64_t deadline;
	uint64_t count = 0;

	if (ivshmem_open(spec, &a) < 0 || ivshmem_open(spec, &b) < 0) {
		printf("not ok - open for the dead-server test\n");
		return 1;
	}
	idb = ivshmem_id(b);
	await_peer(a, (unsigned int)idb, true);
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	deadline = now_ms() + 5000;
	do {
		struct pollfd pfd = { .fd = ivshmem_fd(a), .events = POLLIN };

		poll(&pfd, 1, 100);
		ret = ivshmem_dispatch(a);
	} while (ret >= 0 && now_ms() < deadline);
	CHECK_RET(ret, -ECONNRESET, "ivshmem_dispatch() says the server closed the connection");
	CHECK_RET(ivshmem_dispatch(a), -ECONNRESET, "and keeps saying so");
	CHECK_RET(ivshmem_wait(b, NULL, 0, 5000, &irq), -ECONNRESET,
		  "ivshmem_wait() returns -ECONNRESET");
	CHECK_RET(ivshmem_ring(a, (unsigned int)idb, 1), 0,
		  "rings to the peers known still work");
	ret = ivshmem_vector_ack(b, 1, &count);
	check(ret == 0 && count == 1, "and arrive", "ret %d count %" PRIu64, ret, count);
	ivshmem_close(a);
	ivshmem_close(b);
	return failures ? 1 : 0;
}

static const struct {
	const char *name;
	int err;
} errnames[] = {
	{ "ENOENT", ENOENT }, { "ENODEV", ENODEV }, { "EINVAL", EINVAL },
	{ "ECONNREFUSED", ECONNREFUSED }, { "EPROTO", EPROTO }, { "ETIMEDOUT", ETIMEDOUT },
	{ "ENAMETOOLONG", ENAMETOOLONG }, { "ENOTSOCK", ENOTSOCK },
};

static int count_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int test_open(const char *spec, const char *errname)
{
	struct ivshmem *dev = NULL;
	char name[256];
	int want = 0, ret, before, after;

	for (unsigned int i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (strcmp(errnames[i].name, errname) == 0)
			want = -errnames[i].err;
	if (!want) {
		printf("not ok - unknown errno name %s\n", errname);
		return 1;
	}
	before = count_fds();
	ret = ivshmem_open(spec, &dev);
	snprintf(name, sizeof(name), "ivshmem_open(\"%.200s\") gives -%s", spec, errname);
	CHECK_RET(ret, want, name);
	if (ret == 0)
		ivshmem_close(dev);
	after = count_fds();
	check(after == before, "and closes every descriptor it received", "%d open before, %d after",
	      before, after);
	check(ivshmem_strerror(ret) && *ivshmem_strerror(ret), "and ivshmem_strerror() has words",
	      "empty");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "peers") == 0)
		return test_peers(argv[2]);
	if (argc == 3 && strcmp(argv[1], "dead") == 0)
		return test_dead(argv[2]);
	if (argc == 4 && strcmp(argv[1], "open") == 0)
		return test_open(argv[2], argv[3]);
	fprintf(stderr, "usage: lib_host_test peers|dead SOCKSPEC | open SPEC ERRNO\n");
	return 2;
}
