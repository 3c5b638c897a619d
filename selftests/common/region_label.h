/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The label attributes of the drivers (label of /sys/class/ivshmem/
 * ivshmemN, region_label of a PCI function bound to uio_ivshmem): what
 * every one must look like, and what a scenario says it must hold.
 *
 * $IVSHMEM_EXPECT_LABELS lists the devices' labels in PCI address order,
 * comma separated: each one in hex digits (its bytes, without the
 * newline), or "-" for a device without a label.  Hex, because a label
 * can hold any byte but NUL, commas and newlines included.
 */
#ifndef REGION_LABEL_H
#define REGION_LABEL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What a label attribute may hold: a 63-byte label and its newline. */
#define LABEL_ATTR_MAX	64

/* Read a whole attribute into buf (not terminated); its length or -errno. */
static inline int label_attr_read(const char *path, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	do {
		r = read(fd, buf + n, len - n);
		if (r > 0)
			n += r;
	} while (r > 0 && n < len);
	if (r < 0)
		r = -errno;
	close(fd);
	return r < 0 ? (int)r : (int)n;
}

/*
 * Why an attribute's content is not a label attribute's, or NULL when it
 * is: empty, or 1 to 63 bytes other than NUL followed by one newline.
 */
static inline const char *label_attr_bad(const char *buf, int len)
{
	if (len == 0)
		return NULL;
	if (len < 2 || len > LABEL_ATTR_MAX)
		return "length is neither 0 nor 2 to 64";
	if (buf[len - 1] != '\n')
		return "no newline at the end";
	if (memchr(buf, '\0', len))
		return "a NUL byte";
	return NULL;
}

/*
 * The label entry @i of $IVSHMEM_EXPECT_LABELS, decoded into buf: its
 * length, 0 for "-" (no label), -1 when the list has no such entry or the
 * entry is not hex.
 */
static inline int label_expected(const char *list, int i, char *buf,
				 size_t len)
{
	const char *p = list, *end;
	size_t n = 0;
	unsigned int b;

	for (; i > 0 && p; i--) {
		p = strchr(p, ',');
		if (p)
			p++;
	}
	if (!p)
		return -1;
	end = strchr(p, ',');
	if (!end)
		end = p + strlen(p);
	if (end - p == 1 && *p == '-')
		return 0;
	if (end == p || (end - p) % 2)
		return -1;
	for (; p < end && n < len; p += 2) {
		if (sscanf(p, "%2x", &b) != 1)
			return -1;
		buf[n++] = b;
	}
	return p == end ? (int)n : -1;
}

/* How many entries $IVSHMEM_EXPECT_LABELS has. */
static inline int label_expected_count(const char *list)
{
	int n = 1;

	for (; *list; list++)
		n += *list == ',';
	return n;
}

#endif /* REGION_LABEL_H */
