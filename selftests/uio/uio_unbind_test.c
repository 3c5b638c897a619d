// SPDX-License-Identifier: GPL-2.0
/*
 * Unbinding uio_ivshmem from a device that a process still has open and
 * mapped: a reader blocked on the descriptor wakes with EIO, later calls
 * fail cleanly, every mapping of a BAR (also one whose descriptor was
 * closed, one inherited by a child, one made through another node of the
 * same device) is gone so that touching it raises SIGBUS, map 2 still
 * reads the interrupt counts as they were (also in the child), and the
 * device works again once bound anew.  The guest's kernel log is
 * checked by the harness.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "uio_common.h"

static sigjmp_buf fault_env;

static void on_sigbus(int sig)
{
	siglongjmp(fault_env, sig);
}

/* The signal touching @p raises (0: none). */
static int touch(volatile void *p, int write)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old_bus, old_segv;
	volatile int sig;

	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	sig = sigsetjmp(fault_env, 1);
	if (!sig) {
		if (write)
			*(volatile uint32_t *)p = 0;
		else
			(void)*(volatile uint32_t *)p;
	}
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return sig;
}

static int bound_to_uio(const char *pci)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", pci);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return !strcmp(strrchr(target, '/') + 1, "uio_ivshmem");
}

TEST(unbind_with_maps_held)
{
	volatile void *regs, *shm, *counts, *regs2, *shm2, *shm3;
	const char *alias = "/tmp/uio-alias";
	char node[PATH_MAX];
	struct pollfd pfd;
	struct stat st;
	struct uio_dev d;
	int32_t on = 1;
	uint32_t total;
	int fd, fd2, fd3, status;
	unsigned int id;
	uint64_t count0;
	pid_t child;
	long r;

	if (uio_find(&d, 1, 0))
		SKIP(return, "no doorbell device on uio_ivshmem");
	if (!d.map_size[MAP_COUNTS])
		SKIP(return, "the doorbell device has no MSI-X vectors");
	fd = uio_open(&d, O_RDWR);
	ASSERT_LE(0, fd);
	regs = uio_map(fd, &d, MAP_REGS, 0, PROT_READ | PROT_WRITE);
	shm = uio_map(fd, &d, MAP_SHM, getpagesize(), PROT_READ | PROT_WRITE);
	counts = uio_map(fd, &d, MAP_COUNTS, 0, PROT_READ);
	ASSERT_TRUE(regs && shm && counts);
	/* a count of vector 0 that map 2 must still show after the unbind */
	count0 = count_of(counts, 0);
	ring(regs, reg_read(regs, REG_IV_POSITION), 0);
	ASSERT_EQ(0, wait_count(counts, 0, count0 + 1, 10000));
	ASSERT_LT(0, uio_wait(fd, 10000));	/* its event, read here */
	count0 = count_of(counts, 0);
	/* mappings whose descriptor is closed before the unbind */
	fd2 = uio_open(&d, O_RDWR);
	ASSERT_LE(0, fd2);
	regs2 = uio_map(fd2, &d, MAP_REGS, 0, PROT_READ | PROT_WRITE);
	shm2 = uio_map(fd2, &d, MAP_SHM, getpagesize(), PROT_READ | PROT_WRITE);
	ASSERT_TRUE(regs2 && shm2);
	close(fd2);
	/* and through a second node of the same device */
	snprintf(node, sizeof(node), "/dev/%s", d.uio);
	ASSERT_EQ(0, stat(node, &st));
	unlink(alias);
	ASSERT_EQ(0, mknod(alias, S_IFCHR | 0600, st.st_rdev));
	fd3 = open(alias, O_RDWR);
	ASSERT_LE(0, fd3);
	shm3 = uio_map(fd3, &d, MAP_SHM, getpagesize(), PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, shm3);
	((volatile uint32_t *)shm)[0] = 0xfeed;
	ASSERT_EQ(0xfeed, ((volatile uint32_t *)shm3)[0]);
	ASSERT_EQ(0xfeed, ((volatile uint32_t *)shm2)[0]);

	/* a child blocks in read() with the maps inherited */
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		ssize_t n = read(fd, &total, sizeof(total));

		if (n != -1 || errno != EIO)
			_exit(1);
		if (touch(shm, 1) != SIGBUS || touch(regs, 0) != SIGBUS)
			_exit(2);
		_exit(!touch(counts, 0) && count_of(counts, 0) == count0 ? 0 : 3);
	}
	usleep(200000);
	ASSERT_EQ(0, write_text(UIO_DRIVER "/unbind", d.pci));
	ASSERT_FALSE(bound_to_uio(d.pci));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("child: 1 = read, 2 = BARs, 3 = counts");

	/* the descriptor fails cleanly */
	pfd.fd = fd;
	pfd.events = POLLIN;
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_TRUE(pfd.revents & POLLERR);
	EXPECT_EQ(-1, read(fd, &total, sizeof(total)));
	EXPECT_EQ(EIO, errno);
	EXPECT_EQ(-1, write(fd, &on, sizeof(on)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(NULL, uio_map(fd, &d, MAP_SHM, getpagesize(), PROT_READ));
	EXPECT_EQ(EINVAL, errno);
	/* every mapping of a BAR is gone; the counts stay, read-only */
	EXPECT_EQ(SIGBUS, touch(regs, 0));
	EXPECT_EQ(SIGBUS, touch(regs, 1));
	EXPECT_EQ(SIGBUS, touch(shm, 0));
	EXPECT_EQ(0, touch(counts, 0));
	EXPECT_EQ(count0, count_of(counts, 0));
	EXPECT_EQ(SIGSEGV, touch(counts, 1));
	EXPECT_EQ(SIGBUS, touch(regs2, 1));
	EXPECT_EQ(SIGBUS, touch(shm2, 0));
	EXPECT_EQ(SIGBUS, touch(shm3, 1));
	uio_unmap(&d, MAP_REGS, regs, 0);
	munmap((void *)shm, getpagesize());
	munmap((void *)counts, getpagesize());
	uio_unmap(&d, MAP_REGS, regs2, 0);
	munmap((void *)shm2, getpagesize());
	munmap((void *)shm3, getpagesize());
	close(fd3);
	unlink(alias);
	close(fd);

	/* bound again, the device maps, keeps its memory and interrupts */
	ASSERT_EQ(0, write_text(UIO_DRIVER "/bind", d.pci));
	ASSERT_TRUE(bound_to_uio(d.pci));
	ASSERT_EQ(0, uio_find(&d, 1, 0));
	fd = uio_open(&d, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, fd);
	regs = uio_map(fd, &d, MAP_REGS, 0, PROT_READ | PROT_WRITE);
	shm = uio_map(fd, &d, MAP_SHM, getpagesize(), PROT_READ | PROT_WRITE);
	ASSERT_TRUE(regs && shm);
	EXPECT_EQ(0xfeed, ((volatile uint32_t *)shm)[0]);
	id = reg_read(regs, REG_IV_POSITION);
	ring(regs, id, 0);
	r = uio_wait(fd, 10000);
	EXPECT_LT(0, r) TH_LOG("no event after rebinding (%ld)", r);
	close(fd);
}

/* The kernel log holds @what (klogctl reads the whole ring). */
static int klog_has(const char *what)
{
	int len = klogctl(10, NULL, 0), found;	/* SYSLOG_ACTION_SIZE_BUFFER */
	char *buf;

	if (len <= 0)
		return -1;
	buf = calloc(1, len + 1);
	if (!buf)
		return -1;
	len = klogctl(3, buf, len);		/* SYSLOG_ACTION_READ_ALL */
	found = len < 0 ? -1 : strstr(buf, what) != NULL;
	free(buf);
	return found;
}

/*
 * A device node on a filesystem of its own (a container's /dev), mapped
 * and then let go, and the filesystem unmounted before the unbind: the
 * driver must not hold the node's inode, or the unmount leaves it busy
 * and the unbind touches it after it was freed.
 */
TEST(node_on_an_unmounted_fs_is_not_held)
{
	const char *dir = "/tmp/uio-fs", *node = "/tmp/uio-fs/uio";
	char path[PATH_MAX];
	struct uio_dev d;
	struct stat st;
	void *regs, *shm;
	int fd;

	if (uio_find(&d, 1, 0))
		SKIP(return, "no doorbell device on uio_ivshmem");
	ASSERT_EQ(0, klog_has("Busy inodes"));
	snprintf(path, sizeof(path), "/dev/%s", d.uio);
	ASSERT_EQ(0, stat(path, &st));
	mkdir(dir, 0700);
	ASSERT_EQ(0, mount("uio-fs", dir, "tmpfs", 0, NULL));
	ASSERT_EQ(0, mknod(node, S_IFCHR | 0600, st.st_rdev));
	fd = open(node, O_RDWR);
	ASSERT_LE(0, fd);
	regs = uio_map(fd, &d, MAP_REGS, 0, PROT_READ);
	shm = uio_map(fd, &d, MAP_SHM, getpagesize(), PROT_READ | PROT_WRITE);
	ASSERT_TRUE(regs && shm);
	uio_unmap(&d, MAP_REGS, regs, 0);
	uio_unmap(&d, MAP_SHM, shm, getpagesize());
	close(fd);
	ASSERT_EQ(0, umount(dir));
	EXPECT_EQ(0, klog_has("Busy inodes"));

	ASSERT_EQ(0, write_text(UIO_DRIVER "/unbind", d.pci));
	ASSERT_EQ(0, write_text(UIO_DRIVER "/bind", d.pci));
	ASSERT_TRUE(bound_to_uio(d.pci));
}

TEST_HARNESS_MAIN
