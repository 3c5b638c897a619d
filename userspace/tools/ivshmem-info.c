// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-info - list ivshmem devices, or describe one: its region
 * header, if it has one, and the other peers (from the server, for a host
 * peer; from the header's presence table, in a guest)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static void help(void)
{
	printf("Usage: %s [--json] [DEVICE]\n"
	       "List the ivshmem devices of this system, or describe one.\n"
	       "\n"
	       "  -d, --device=DEVICE   describe only this device: /dev/ivshmemN, an\n"
	       "                        index N, a PCI address, name:LABEL, /dev/uioN,\n"
	       "                        a PCI device's sysfs directory, or\n"
	       "                        unix:/path/to/server.sock to join that server as\n"
	       "                        a peer and list the peers connected to it\n"
	       "                        (default: $IVSHMEM_DEVICE, else every device)\n"
	       "  -j, --json            print JSON: {\"devices\": [{...}, ...]}\n"
	       "  -h, --help            show this help\n"
	       "\n"
	       "Exit status: 0 success, 1 failure (or no device), 2 bad usage.\n", tool_name);
}

/* One device, as much as is known about it. */
struct row {
	const char *path;
	const char *backend;
	const char *pci;
	const char *driver;
	const char *kind;
	const char *irq;
	const char *memtype;
	uint64_t size;
	int id;
	unsigned int vectors;
	int revision;		/* -1: unknown */
	const char *label;	/* "": none */
	int header;		/* 1: not looked at; 0, or ivshmem_region_info()'s error */
	struct ivshmem_region region;	/* when header is 0 */
	unsigned int *peers;	/* host backend, or a presence table */
	int npeers;		/* -1: not known */
	int peers_err;		/* why not, where a table should tell */
	int *present;		/* per peer: the table's word (1, 0), or -1 */
	uint32_t *epochs;	/* and its epoch there */
};

static const char *backend_of_path(const char *path)
{
	if (strncmp(path, "/dev/uio", 8) == 0)
		return "uio";
	if (strncmp(path, "/sys/", 5) == 0)
		return "sysfs";
	return "char";
}

static void row_from_info(struct row *r, const struct ivshmem_devinfo *d)
{
	*r = (struct row){
		.path = d->path, .backend = backend_of_path(d->path), .pci = d->pci,
		.driver = d->driver, .kind = d->kind, .irq = d->irq,
		.memtype = ivshmem_memtype_name(d->memtype), .size = d->size,
		.id = d->id, .vectors = d->vectors, .revision = (int)d->revision,
		.label = d->label, .header = 1, .npeers = -1,
	};
}

/* Bytes above 0x7e (labels may hold any) as the code points of Latin-1. */
static void json_string(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch > 0x7e)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static const char *header_state(int header)
{
	switch (header) {
	case 0:
		return "present";
	case -ENOMSG:
		return "none";
	case -EBADMSG:
		return "corrupt";
	}
	return "unreadable";
}

static void json_header(const struct row *r)
{
	const struct ivshmem_region *g = &r->region;

	printf(", \"header\": ");
	json_string(header_state(r->header));
	if (r->header)
		return;
	printf(", \"header_offset\": %" PRIu64 ", \"header_size\": %" PRIu64
	       ", \"max_peers\": %u, \"presence_vector\": ", g->header_offset, g->header_size,
	       g->max_peers);
	if (g->presence_vector >= 0)
		printf("%d", g->presence_vector);
	else
		printf("null");
	printf(", \"instance\": \"0x%016" PRIx64 "\"", g->instance);
}

static void json_row(const struct row *r)
{
	printf("{\"path\": ");
	json_string(r->path);
	printf(", \"backend\": ");
	json_string(r->backend);
	printf(", \"pci\": ");
	if (r->pci)
		json_string(r->pci);
	else
		printf("null");
	printf(", \"driver\": ");
	if (r->driver)
		json_string(r->driver);
	else
		printf("null");
	printf(", \"kind\": ");
	json_string(r->kind);
	printf(", \"size\": %" PRIu64, r->size);
	if (r->id >= 0)
		printf(", \"id\": %d", r->id);
	else
		printf(", \"id\": null");
	printf(", \"vectors\": %u, \"interrupts\": ", r->vectors);
	json_string(r->irq);
	printf(", \"memtype\": ");
	json_string(r->memtype);
	if (r->revision >= 0)
		printf(", \"revision\": %d", r->revision);
	printf(", \"label\": ");
	if (r->label && *r->label)
		json_string(r->label);
	else
		printf("null");
	if (r->header != 1)
		json_header(r);
	if (r->npeers >= 0) {
		bool any = false;

		printf(", \"peers\": [");
		for (int i = 0; i < r->npeers; i++)
			printf("%s%u", i ? ", " : "", r->peers[i]);
		printf("]");
		/* IDs as keys: "id" stays the device's own member. */
		for (int i = 0; r->present && i < r->npeers; i++) {
			if (r->present[i] != 1)
				continue;
			printf("%s\"%u\": %" PRIu32, any ? ", " : ", \"epochs\": {", r->peers[i],
			       r->epochs[i]);
			any = true;
		}
		if (r->present)
			printf("%s", any ? "}" : ", \"epochs\": {}");
	}
	printf("}");
}

static void print_json(const struct row *rows, int n)
{
	printf("{\"devices\": [");
	for (int i = 0; i < n; i++) {
		printf("%s\n  ", i ? "," : "");
		json_row(&rows[i]);
	}
	printf("%s]}\n", n ? "\n" : "");
}

static void print_table(const struct row *rows, int n)
{
	int wp = (int)strlen("DEVICE"), wc = (int)strlen("PCI"), wd = (int)strlen("DRIVER");
	char size[32], id[16], label[TOOL_LABEL_TEXT];
	bool labels = false;
	int wm = (int)strlen("MEMTYPE");

	for (int i = 0; i < n; i++) {
		int l = (int)strlen(rows[i].memtype);

		wm = l > wm ? l : wm;
		labels |= rows[i].label && *rows[i].label;
	}
	for (int i = 0; i < n; i++) {
		int l = (int)strlen(rows[i].path);

		wp = l > wp ? l : wp;
		l = (int)strlen(rows[i].pci ? rows[i].pci : "-");
		wc = l > wc ? l : wc;
		l = (int)strlen(rows[i].driver && *rows[i].driver ? rows[i].driver : "-");
		wd = l > wd ? l : wd;
	}
	/* LABEL only when a device has one: the columns before stay put. */
	printf("%-*s  %-*s  %-*s  %-8s  %10s  %5s  %7s  %-10s  ", wp, "DEVICE", wc, "PCI",
	       wd, "DRIVER", "KIND", "SIZE", "ID", "VECTORS", "INTERRUPTS");
	if (labels)
		printf("%-*s  LABEL\n", wm, "MEMTYPE");
	else
		printf("MEMTYPE\n");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		if (r->id >= 0)
			snprintf(id, sizeof(id), "%d", r->id);
		else
			snprintf(id, sizeof(id), "-");
		printf("%-*s  %-*s  %-*s  %-8s  %10s  %5s  %7u  %-10s  ", wp, r->path, wc,
		       r->pci ? r->pci : "-", wd, r->driver && *r->driver ? r->driver : "-",
		       r->kind, tool_human_size(r->size, size, sizeof(size)), id, r->vectors,
		       r->irq);
		if (labels)
			printf("%-*s  %s\n", wm, r->memtype, r->label && *r->label ?
			       tool_escape(r->label, label, sizeof(label)) : "-");
		else
			printf("%s\n", r->memtype);
	}
}

static void print_header(const struct row *r)
{
	const struct ivshmem_region *g = &r->region;
	char label[TOOL_LABEL_TEXT];

	if (r->header == 1)
		return;
	printf("label:      %s\n", r->label && *r->label ?
	       tool_escape(r->label, label, sizeof(label)) : "(none)");
	switch (r->header) {
	case 0:
		printf("header:     %" PRIu64 " bytes at 0x%" PRIx64, g->header_size,
		       g->header_offset);
		if (!g->max_peers)
			printf(", no presence table\n");
		else if (g->presence_vector < 0)
			printf(", presence table of %u peers, no presence vector\n", g->max_peers);
		else
			printf(", presence table of %u peers, presence vector %d\n", g->max_peers,
			       g->presence_vector);
		break;
	case -ENOMSG:
		printf("header:     none (the region has no ivshmem header)\n");
		break;
	case -EBADMSG:
		printf("header:     corrupt (the region's header is corrupt)\n");
		break;
	default:
		printf("header:     unreadable (%s)\n", ivshmem_strerror(r->header));
	}
}

static void print_one(const struct row *r)
{
	char size[32];

	printf("device:     %s\n", r->path);
	printf("backend:    %s\n", r->backend);
	if (r->pci)
		printf("pci:        %s\n", r->pci);
	if (r->driver)
		printf("driver:     %s\n", *r->driver ? r->driver : "(none)");
	printf("kind:       %s\n", r->kind);
	printf("size:       %" PRIu64 " (%s)\n", r->size,
	       tool_human_size(r->size, size, sizeof(size)));
	if (r->id >= 0)
		printf("id:         %d\n", r->id);
	else
		printf("id:         (none)\n");
	printf("vectors:    %u\n", r->vectors);
	printf("interrupts: %s\n", r->irq);
	printf("memtype:    %s\n", r->memtype);
	if (r->revision >= 0)
		printf("revision:   %d\n", r->revision);
	print_header(r);
	if (r->npeers >= 0) {
		printf("peers:     ");
		if (!r->npeers)
			printf(" (none)");
		for (int i = 0; i < r->npeers; i++) {
			printf(" %u", r->peers[i]);
			if (r->present && r->present[i] == 1)
				printf(" (epoch %" PRIu32 ")", r->epochs[i]);
			else if (r->present && r->present[i] == 0)
				printf(" (absent from the presence table)");
		}
		printf("\n");
	} else if (r->peers_err) {
		printf("peers:      (unknown: %s)\n", ivshmem_strerror(r->peers_err));
	}
}

/*
 * The other peers: the server's (host backend) or the presence table's,
 * each with its entry in the table where there is one.
 */
static void describe_peers(struct ivshmem *dev, struct row *r)
{
	bool table = r->header == 0 && r->region.max_peers;
	int n;

	if (ivshmem_backend(dev) != IVSHMEM_BACKEND_HOST && !table)
		return;
	n = ivshmem_peers(dev, NULL, 0);
	for (int tries = 0; n >= 0 && tries < 5; tries++) {
		int got;

		free(r->peers);
		r->peers = calloc((size_t)n + 1, sizeof(*r->peers));
		if (!r->peers)
			tool_fail("out of memory");
		got = ivshmem_peers(dev, r->peers, (unsigned int)n);
		if (got <= n) {		/* the table may change between the calls */
			n = got;
			break;
		}
		n = got;
	}
	if (n < 0) {
		if (ivshmem_backend(dev) == IVSHMEM_BACKEND_HOST)
			tool_fail("%s: peers: %s", ivshmem_path(dev), ivshmem_strerror(n));
		r->peers_err = n;
		return;
	}
	r->npeers = n;
	if (!table)
		return;
	r->present = calloc((size_t)n + 1, sizeof(*r->present));
	r->epochs = calloc((size_t)n + 1, sizeof(*r->epochs));
	if (!r->present || !r->epochs)
		tool_fail("out of memory");
	for (int i = 0; i < n; i++) {
		int ret = ivshmem_peer_epoch(dev, r->peers[i], &r->epochs[i]);

		r->present[i] = ret == 0 || ret == 1 ? ret : -1;
	}
}

/* Describe an opened device; what the handle does not know comes from the list. */
static void describe_open(struct ivshmem *dev, struct row *r, struct ivshmem_devinfo **list)
{
	enum ivshmem_backend b = ivshmem_backend(dev);
	const char *path = ivshmem_path(dev);

	*r = (struct row){
		.path = path, .backend = ivshmem_backend_name(b),
		.kind = ivshmem_can_ring(dev) ? "doorbell" : "plain",
		.irq = ivshmem_vectors(dev) ? (b == IVSHMEM_BACKEND_HOST ? "eventfd" : "msix") :
		       "none",
		.memtype = ivshmem_memtype_name(ivshmem_memtype(dev)),
		.size = ivshmem_size(dev), .id = ivshmem_id(dev),
		.vectors = ivshmem_vectors(dev), .revision = -1, .label = "", .npeers = -1,
	};
	if (r->id < 0)
		r->id = -1;
	r->header = ivshmem_region_info(dev, &r->region);
	if (r->header == 0)
		r->label = r->region.label;
	describe_peers(dev, r);
	if (b == IVSHMEM_BACKEND_HOST)
		return;
	for (int i = 0; list && list[i]; i++) {
		char a[PATH_MAX], c[PATH_MAX];

		if (!realpath(list[i]->path, a) || !realpath(path, c) || strcmp(a, c) != 0)
			continue;
		r->pci = list[i]->pci;
		r->driver = list[i]->driver;
		r->irq = list[i]->irq;
		r->revision = (int)list[i]->revision;
		if (r->header != 0)	/* the driver's word, when the header is unreadable */
			r->label = list[i]->label;
		break;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ivshmem_devinfo **list = NULL;
	const char *device = NULL;
	bool json = false;
	struct row *rows;
	int c, n;

	tool_init(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jd:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		default:
			tool_option(c, argv, help, &device, NULL);
		}
	}
	device = tool_device_arg(device, argc, argv, optind);
	if (!device || !*device)
		device = getenv("IVSHMEM_DEVICE");
	if (device && !*device)
		device = NULL;

	if (device) {
		struct ivshmem *dev = tool_open(device);
		struct row r;

		if (ivshmem_backend(dev) != IVSHMEM_BACKEND_HOST && ivshmem_list(&list) < 0)
			list = NULL;
		describe_open(dev, &r, list);
		if (json)
			print_json(&r, 1);
		else
			print_one(&r);
		free(r.peers);
		free(r.present);
		free(r.epochs);
		ivshmem_list_free(list);
		ivshmem_close(dev);
		return 0;
	}

	n = ivshmem_list(&list);
	if (n < 0)
		tool_fail("cannot list devices: %s", ivshmem_strerror(n));
	rows = calloc((size_t)n + 1, sizeof(*rows));
	if (!rows)
		tool_fail("out of memory");
	for (int i = 0; i < n; i++)
		row_from_info(&rows[i], list[i]);
	if (json)
		print_json(rows, n);
	else if (n)
		print_table(rows, n);
	free(rows);
	ivshmem_list_free(list);
	if (!n)
		tool_fail("no ivshmem device found");
	return 0;
}
