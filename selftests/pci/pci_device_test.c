// SPDX-License-Identifier: GPL-2.0
/*
 * What a guest sees of its ivshmem devices with no driver bound: IDs, BAR
 * sizes, and shared memory the host filled, read through sysfs resource2.
 *
 * The scenario tells the test what QEMU was given:
 *   PCI_EXPECT_SIZES   comma-separated BAR2 sizes in bus order
 *   PCI_EXPECT_TOKEN   a string the host wrote at offset 0 of one device
 *   PCI_WRITE_TOKEN    a string to write at offset 4096 of that device
 */
#include <errno.h>
#include "pci_common.h"
#include "kselftest_harness.h"

FIXTURE(ivshmem_pci) {
	struct pci_func fn[MAX_FUNCS];
	int n;
};

FIXTURE_SETUP(ivshmem_pci)
{
	self->n = pci_find_ivshmem(self->fn, MAX_FUNCS);
	ASSERT_GT(self->n, 0)
		TH_LOG("no 1af4:1110 function on the PCI bus");
}

FIXTURE_TEARDOWN(ivshmem_pci)
{
}

TEST_F(ivshmem_pci, revision_is_1)
{
	unsigned long rev, class;
	int i;

	for (i = 0; i < self->n; i++) {
		ASSERT_EQ(0, pci_read_hex(self->fn[i].addr, "revision", &rev));
		EXPECT_EQ(1UL, rev);
		ASSERT_EQ(0, pci_read_hex(self->fn[i].addr, "class", &class));
		/* QEMU presents ivshmem as "other memory controller". */
		EXPECT_EQ(0x050000UL, class);
	}
}

TEST_F(ivshmem_pci, bar0_has_256_bytes_of_registers)
{
	int i;

	for (i = 0; i < self->n; i++)
		EXPECT_EQ(256ULL, (unsigned long long)self->fn[i].bar_size[0]);
}

TEST_F(ivshmem_pci, bar2_sizes_match_the_host)
{
	const char *want = getenv("PCI_EXPECT_SIZES");
	char *copy, *tok, *save;
	int i = 0;

	if (!want)
		SKIP(return, "PCI_EXPECT_SIZES not set");
	copy = strdup(want);
	ASSERT_NE(NULL, copy);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), i++) {
		ASSERT_LT(i, self->n);
		EXPECT_EQ(strtoull(tok, NULL, 0), self->fn[i].bar_size[2])
			TH_LOG("device %s", self->fn[i].addr);
	}
	free(copy);
	EXPECT_EQ(i, self->n);
}

TEST_F(ivshmem_pci, bar2_holds_what_the_host_wrote)
{
	const char *token = getenv("PCI_EXPECT_TOKEN");
	const char *wtoken = getenv("PCI_WRITE_TOKEN");
	int i, found = 0;

	if (!token)
		SKIP(return, "PCI_EXPECT_TOKEN not set");
	for (i = 0; i < self->n; i++) {
		char *p = pci_map_bar(&self->fn[i], 2);

		ASSERT_NE(NULL, p) TH_LOG("mmap resource2 of %s: %s",
					  self->fn[i].addr, strerror(errno));
		if (!strncmp(p, token, strlen(token) + 1)) {
			found++;
			if (wtoken)
				memcpy(p + 4096, wtoken, strlen(wtoken) + 1);
		}
		munmap(p, self->fn[i].bar_size[2]);
	}
	EXPECT_EQ(1, found);
}

TEST_HARNESS_MAIN
