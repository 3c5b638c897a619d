// SPDX-License-Identifier: GPL-2.0
/*
 * Random ioctl(), mmap(), read(), poll() and close() calls on /dev/ivshmemN:
 * nothing may crash, hang or leave a mark in the kernel log (the guest
 * harness fails the run on any BUG, WARNING or Oops), and the device must
 * work normally afterwards.
 *
 * Two processes share the open file and call at the same time, each from
 * its own sequence of the seed.  Each sequence is reproducible (their
 * interleaving is not): the seed is printed, and
 *   IVSHMEM_FUZZ_SEED=N     replays it (default: a fixed seed)
 *   IVSHMEM_FUZZ_ITERS=N    bounds the iterations per device (200000)
 *   IVSHMEM_FUZZ_SECONDS=N  bounds the time per device (5 s); the number of
 *                           iterations done is printed, give it as
 *                           IVSHMEM_FUZZ_ITERS to replay exactly
 *   IVSHMEM_FUZZ_KIND=K     fuzz only the plain or the doorbell device
 *   IVSHMEM_FUZZ_UNTIL_GONE=1  the device is removed while the fuzzer
 *                           runs: SIGBUS is expected, the run ends when the
 *                           device node is gone, and it must go in time
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ivshmem_util.h"
#include "kselftest_harness.h"

/*
 * SKIP with the test's full name in the reason: the harness of 6.1
 * prints no name on a skipped test's KTAP line.
 */
#define SKIP_F(fmt, ...) SKIP(return, "%s.%s.%s: " fmt, _metadata->fixture->name, \
			      variant->kind, _metadata->name, ##__VA_ARGS__)
#define SKIP_T(fmt, ...) SKIP(return, "%s.%s: " fmt, _metadata->fixture->name, \
			      _metadata->name, ##__VA_ARGS__)

#define PAGE		4096UL
#define NMAPS		8
#define NEFDS		4

static sigjmp_buf bus_jb;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jb, 1);
}

struct rng {
	uint64_t s;
};

/* xorshift64*: the same sequence on every libc. */
static uint32_t rnd(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (r->s * 0x2545f4914f6cdd1dULL) >> 32;
}

static unsigned long envnum(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : def;
}

struct map {
	char *p;
	size_t len;
	int prot;
};

struct fuzz {
	struct rng r;
	const char *node;
	struct ivshmem_info info;
	int fd;
	int efd[NEFDS];
	struct map maps[NMAPS];
	unsigned char *buf;		/* ioctl arguments, page aligned */
	unsigned long unexpected;	/* mappings that should have failed */
};

/* A value a test of the driver would care about, more often than not. */
static uint32_t pick32(struct fuzz *z)
{
	static const uint32_t edges[] = {
		0, 1, 2, 3, 4, 255, 256, 65535, 65536, 0x7fffffff, 0x80000000,
		0xffffffff, 48, 16, 8,
	};

	switch (rnd(&z->r) % 4) {
	case 0:
		return edges[rnd(&z->r) % (sizeof(edges) / sizeof(edges[0]))];
	case 1:
		return rnd(&z->r);
	default:
		return rnd(&z->r) % 8;
	}
}

static void fuzz_ioctl(struct fuzz *z)
{
	static const unsigned long known[] = {
		IVSHMEM_IOCTL_INFO, IVSHMEM_IOCTL_RING, IVSHMEM_IOCTL_BIND_EVENTFD,
		IVSHMEM_IOCTL_UNBIND_EVENTFD, IVSHMEM_IOCTL_SET_CACHE,
	};
	uint32_t *w = (uint32_t *)z->buf;
	unsigned long cmd;
	void *arg = z->buf;
	unsigned int i;

	for (i = 0; i < 16; i++)
		w[i] = rnd(&z->r) % 3 ? 0 : pick32(z);
	switch (rnd(&z->r) % 8) {
	case 0:
		cmd = _IOC(rnd(&z->r) % 4, IVSHMEM_MAGIC, rnd(&z->r) % 16,
			   rnd(&z->r) % 80);
		break;
	case 1:
		cmd = rnd(&z->r);
		break;
	default:
		cmd = known[rnd(&z->r) % 5];
		break;
	}
	if (cmd == IVSHMEM_IOCTL_INFO && rnd(&z->r) % 2)
		w[0] = sizeof(struct ivshmem_info);
	if (cmd == IVSHMEM_IOCTL_RING && rnd(&z->r) % 2)
		w[0] = rnd(&z->r) % 2 ? z->info.vm_id : pick32(z);
	if ((cmd == IVSHMEM_IOCTL_BIND_EVENTFD ||
	     cmd == IVSHMEM_IOCTL_UNBIND_EVENTFD) && rnd(&z->r) % 2) {
		w[0] = rnd(&z->r) % (z->info.nr_vectors + 2);
		w[1] = rnd(&z->r) % 4 ? (uint32_t)z->efd[rnd(&z->r) % NEFDS] : pick32(z);
	}
	switch (rnd(&z->r) % 16) {
	case 0:
		arg = NULL;
		break;
	case 1:
		arg = (void *)(uintptr_t)pick32(z);
		break;
	case 2:
		arg = z->buf + PAGE - (rnd(&z->r) % 16);	/* runs off the end */
		break;
	}
	ioctl(z->fd, cmd, arg);
}

static void fuzz_mmap(struct fuzz *z)
{
	struct map *m = &z->maps[rnd(&z->r) % NMAPS];
	size_t size = z->info.shm_size, len;
	off_t off;
	int flags, prot;
	char *p;

	if (m->p) {
		switch (rnd(&z->r) % 4) {
		case 0:
			if (m->prot & PROT_WRITE)
				m->p[rnd(&z->r) % m->len] ^= 1;
			else
				((volatile char *)m->p)[rnd(&z->r) % m->len];
			return;
		case 1:		/* split it */
			if (m->len > PAGE) {
				munmap(m->p + PAGE, PAGE);
				m->len = PAGE;
			}
			return;
		case 2:
			mprotect(m->p, m->len, rnd(&z->r) % 2 ? PROT_READ :
				 PROT_READ | PROT_WRITE);
			/* fall through */
		default:
			munmap(m->p, m->len);
			m->p = NULL;
			return;
		}
	}
	switch (rnd(&z->r) % 4) {
	case 0:
		len = rnd(&z->r);
		break;
	case 1:
		len = size + PAGE * (rnd(&z->r) % 3);
		break;
	default:
		len = PAGE * (1 + rnd(&z->r) % 64);
		break;
	}
	switch (rnd(&z->r) % 4) {
	case 0:
		off = (off_t)rnd(&z->r) << (rnd(&z->r) % 2 ? 12 : 0);
		break;
	case 1:
		off = size - PAGE * (rnd(&z->r) % 4);
		break;
	default:
		off = PAGE * (rnd(&z->r) % 64);
		break;
	}
	flags = rnd(&z->r) % 6 ? MAP_SHARED : MAP_PRIVATE;
	prot = rnd(&z->r) % 4 ? PROT_READ | PROT_WRITE : PROT_READ;
	if (len > (1UL << 30))
		len = 1UL << 30;	/* keep the guest's page tables small */
	p = mmap(NULL, len, prot, flags, z->fd, off);
	if (p == MAP_FAILED)
		return;
	/* Only shared mappings inside the memory may succeed. */
	if (flags != MAP_SHARED || off < 0 || (size_t)off + len > size) {
		printf("# unexpected mapping: len %#zx off %#llx flags %d\n", len,
		       (long long)off, flags);
		z->unexpected++;
	}
	if (prot & PROT_WRITE) {
		p[0] = 1;
		p[len - 1] = 2;
	}
	m->p = p;
	m->len = len;
	m->prot = prot;
}

static void fuzz_read(struct fuzz *z)
{
	struct pollfd pfd = { .fd = z->fd, .events = POLLIN | POLLOUT };

	if (rnd(&z->r) % 2)
		read(z->fd, z->buf, rnd(&z->r) % 40);
	else
		read(z->fd, rnd(&z->r) % 2 ? NULL : z->buf + PAGE - 4, 8);
	poll(&pfd, 1, 0);
}

static void fuzz_files(struct fuzz *z)
{
	unsigned int i = rnd(&z->r) % NEFDS;
	pid_t pid;

	switch (rnd(&z->r) % 4) {
	case 0:		/* a fresh eventfd, or a closed descriptor */
		close(z->efd[i]);
		z->efd[i] = rnd(&z->r) % 4 ? eventfd(0, EFD_NONBLOCK) : -1;
		break;
	case 1:		/* reopen: the old file's bindings and mappings stay */
		close(z->fd);
		z->fd = open(z->node, O_RDWR | O_NONBLOCK);
		break;
	case 2:		/* a child inherits every mapping and binding */
		pid = fork();
		if (pid == 0) {
			signal(SIGBUS, SIG_DFL);
			for (i = 0; i < NMAPS; i++)
				if (z->maps[i].p)
					((volatile char *)z->maps[i].p)[0];
			ioctl(z->fd, IVSHMEM_IOCTL_UNBIND_EVENTFD, z->buf);
			_exit(0);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
		break;
	default:
		ivs_set_cache(z->fd, rnd(&z->r) % 3);
		break;
	}
}

static void fuzz_ring(struct fuzz *z)
{
	/* Real interrupts, so that the handler races the rest. */
	if (z->info.dev_flags & IVSHMEM_DEV_DOORBELL)
		ivs_ring(z->fd, z->info.vm_id, rnd(&z->r) % (z->info.nr_vectors + 1));
}

/*
 * The loop: 1 when the device went away (until_gone), 0 at the end of the
 * iterations or the time, -1 when the device file cannot be reopened.
 */
static int fuzz_run(struct fuzz *z, unsigned long iters, long long end,
		    int until_gone, unsigned long *done, unsigned long *sigbus)
{
	volatile int ug = until_gone;
	volatile unsigned long it, nbus = 0;
	volatile int ret = 0;
	unsigned int op;

	for (it = 0; it < iters && ivs_now_ms() < end; it++) {
		/* A mapping touched after removal lands here. */
		if (ug && sigsetjmp(bus_jb, 1))
			nbus++;
		op = rnd(&z->r) % 16;
		if (z->fd < 0)
			z->fd = open(z->node, O_RDWR | O_NONBLOCK);
		if (z->fd < 0) {
			ret = ug && (errno == ENOENT || errno == ENODEV) ? 1 : -1;
			break;
		}
		if (op < 6)
			fuzz_ioctl(z);
		else if (op < 10)
			fuzz_mmap(z);
		else if (op < 12)
			fuzz_read(z);
		else if (op < 14)
			fuzz_ring(z);
		else
			fuzz_files(z);
	}
	*done = it;
	*sigbus = nbus;
	return ret;
}

FIXTURE(fuzz) {
	struct fuzz z;
};

FIXTURE_VARIANT(fuzz) {
	const char *kind;
	uint64_t salt;
};

FIXTURE_VARIANT_ADD(fuzz, plain) {
	.kind = "plain",
	.salt = 1,
};

FIXTURE_VARIANT_ADD(fuzz, doorbell) {
	.kind = "doorbell",
	.salt = 2,
};

FIXTURE_SETUP(fuzz)
{
	struct ivs_dev d;
	unsigned int i;

	self->z.fd = -1;
	if (getenv("IVSHMEM_FUZZ_KIND") && strcmp(getenv("IVSHMEM_FUZZ_KIND"), variant->kind))
		SKIP_F("IVSHMEM_FUZZ_KIND=%s", getenv("IVSHMEM_FUZZ_KIND"));
	if (ivs_find(variant->kind, &d))
		SKIP_F("no %s device", variant->kind);
	self->z.node = strdup(d.node);
	self->z.fd = open(d.node, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, self->z.fd);
	ASSERT_EQ(0, ivs_info(self->z.fd, &self->z.info));
	for (i = 0; i < NEFDS; i++)
		self->z.efd[i] = eventfd(0, EFD_NONBLOCK);
	self->z.buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->z.buf);
}

FIXTURE_TEARDOWN(fuzz)
{
}

TEST_F_TIMEOUT(fuzz, random_calls_leave_the_device_working, 120)
{
	unsigned long seed = envnum("IVSHMEM_FUZZ_SEED", 20261125);
	unsigned long iters = envnum("IVSHMEM_FUZZ_ITERS", 200000);
	long long end = ivs_now_ms() + 1000 * envnum("IVSHMEM_FUZZ_SECONDS", 5);
	int until_gone = envnum("IVSHMEM_FUZZ_UNTIL_GONE", 0) != 0, gone;
	unsigned long sigbus = 0;
	struct fuzz *z = &self->z;
	int status;
	pid_t helper;
	struct ivshmem_info info;
	unsigned long it;
	int efd;
	char *p;

	if (z->fd < 0)
		return;
	z->r.s = seed * 2 + variant->salt;
	TH_LOG("seed %lu on %s (IVSHMEM_FUZZ_SEED=%lu replays it)", seed, z->node, seed);
	if (until_gone)
		signal(SIGBUS, on_sigbus);
	/*
	 * A second process shares the open file, its mappings and eventfds,
	 * and calls at the same time from its own sequence of the seed.
	 */
	helper = fork();
	ASSERT_LE(0, helper);
	if (helper == 0) {
		z->r.s ^= 0x9e3779b97f4a7c15ULL;
		gone = fuzz_run(z, iters, end, until_gone, &it, &sigbus);
		_exit(gone < 0 || (until_gone && !gone) || z->unexpected ? 1 : 0);
	}
	gone = fuzz_run(z, iters, end, until_gone, &it, &sigbus);
	ASSERT_EQ(helper, waitpid(helper, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the second process failed (status %#x)", status);
	ASSERT_LE(0, gone) TH_LOG("reopen at %lu: %s", it, strerror(errno));
	TH_LOG("%lu iterations%s (IVSHMEM_FUZZ_ITERS=%lu with the seed replays them)",
	       it, it < iters ? ", stopped by the time limit" : "", it);
	if (until_gone) {
		signal(SIGBUS, SIG_DFL);
		TH_LOG("device gone after %lu iterations, %lu SIGBUS", it, sigbus);
		EXPECT_TRUE(gone) TH_LOG("the device was not removed in time");
		EXPECT_EQ(0, z->unexpected);
		return;
	}
	EXPECT_EQ(0, z->unexpected);

	/* The device still works: info, memory, and a ring to itself. */
	close(z->fd);
	z->fd = open(z->node, O_RDWR);
	ASSERT_LE(0, z->fd);
	ASSERT_EQ(0, ivs_info(z->fd, &info));
	EXPECT_EQ(z->info.shm_size, info.shm_size);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, z->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[7] = 0x42;
	EXPECT_EQ(0x42, ((volatile char *)p)[7]);
	munmap(p, PAGE);
	if (info.nr_vectors) {
		efd = eventfd(0, EFD_NONBLOCK);
		ASSERT_EQ(0, ivs_bind(z->fd, 0, efd));
		/* Earlier rings may still be in flight: drain, then ring. */
		usleep(200000);
		ivs_efd_take(efd);
		ASSERT_EQ(0, ivs_ring(z->fd, info.vm_id, 0));
		EXPECT_EQ(POLLIN, ivs_wait(efd, 5000));
		close(efd);
	}
}

TEST_HARNESS_MAIN
