/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * server.h - the protocol engine of ivshmem-server
 *
 * The engine owns the connected peers: their sockets, IDs, eventfds and
 * output queues.  It is handed an already listening socket and the
 * shared memory descriptor, and knows nothing of options, daemons,
 * pidfiles or signals.
 *
 * When the memory has a region header (<linux/ivshmem_region.h>), the
 * caller maps the header and writes it before serving; the engine then
 * keeps its presence table, rings the presence vector after each change,
 * and restores the header when someone else overwrote it.
 */
#ifndef IVSHMEM_SERVER_H
#define IVSHMEM_SERVER_H

#include <stdint.h>

#include "region.h"

/* Peer IDs are 16 bits wide in the doorbell register. */
#define SERVER_MAX_PEERS	65536U
/* The most MSI-X vectors a PCI function can have. */
#define SERVER_MAX_VECTORS	2048U

/*
 * The region header, as the caller wrote it with region_write(@page,
 * @table, &@info).  The engine owns it from server_new() on: nobody else
 * may change it.
 */
struct server_region {
	void *page;			/* header page, mapped writable; NULL: no header */
	void *table;			/* presence table of server_config.max_peers
					 * entries, or NULL (no IVSHMEM_REGION_F_PRESENCE) */
	struct region_info info;	/* what was written; info.presence_vector
					 * is below server_config.vectors, or
					 * IVSHMEM_REGION_NO_VECTOR */
};

struct server_config {
	int listen_fd;			/* listening AF_UNIX stream socket */
	int shm_fd;			/* shared memory passed to every peer */
	int stop_fd;			/* readable: ivshmem_server_run() returns */
	unsigned int vectors;		/* eventfds per peer */
	unsigned int max_peers;		/* 1..SERVER_MAX_PEERS */
	unsigned int stall_timeout_ms;	/* drop a peer lagging this long; 0: never */
	/*
	 * New peers per second that may take an ID while departures are
	 * witnessed (held IDs exist), after a burst of @churn_burst; more
	 * wait in the backlog.  0: no limit.
	 */
	unsigned int churn_rate;
	unsigned int churn_burst;
	struct server_region region;	/* .page NULL: the memory is not touched */
};

struct server;

/**
 * server_new() - create the engine
 * @cfg: configuration; the descriptors stay owned by the caller
 *
 * Return: the engine, or NULL with errno set.
 */
struct server *server_new(const struct server_config *cfg);

/**
 * server_run() - serve peers until the stop descriptor becomes readable
 * @srv: the engine
 *
 * Return: 0 when stopped, or a negative errno when the event loop itself
 * failed.  Failures of single peers only drop those peers.
 */
int server_run(struct server *srv);

/**
 * server_free() - disconnect every peer and free the engine
 * @srv: the engine, or NULL
 */
void server_free(struct server *srv);

#endif /* IVSHMEM_SERVER_H */
