# SPDX-License-Identifier: GPL-2.0
#
# ivshmem: guest driver, library, tools, host server and their tests.
#
#   make                 build everything for the default kernel (KDIR=)
#   make check           install missing dependencies, build, run every test
#   make demo            a server, two guests, a doorbell rung across them
#   make install         DESTDIR= and PREFIX= are honoured
#   make deb             Debian packages, in build/deb/ (debian/, packaging/build-deb)
#   make bench           benchmarks (not part of check)
#
# KDIR= (or KERNELRELEASE=) picks the kernel the modules are built against;
# the default is the running kernel's build tree, else the newest Debian
# headers installed.  TEST_KERNELS= picks the guest kernels of check/demo.

TOP		:= $(CURDIR)
BUILD		:= $(TOP)/build
PREFIX		?= /usr/local
DESTDIR		?=
KSFT_DIR	?= /usr/src/linux-source-6.1/tools/testing/selftests
TEST_KERNELS	?= 6.1 6.12

ifneq ($(KERNELRELEASE),)
KDIR		?= /lib/modules/$(KERNELRELEASE)/build
endif
KDIR		?= $(shell d=/lib/modules/$$(uname -r)/build; \
		     if [ -d $$d ]; then echo $$d; else \
		     ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1; fi)

# Components join the build once they have a Makefile.
USER_DIRS	:= $(patsubst %/Makefile,%,$(wildcard host-server/Makefile userspace/Makefile))
KSFT_SUITES	:= $(patsubst selftests/%/Makefile,%,$(wildcard selftests/*/Makefile))
HAVE_DRIVER	:= $(wildcard driver/Makefile)

export PREFIX DESTDIR KSFT_DIR

.PHONY: all userland modules test-modules selftests check demo install uninstall \
	clean bench deps

all: userland modules selftests

deps:
	@scripts/install-deps --check >/dev/null 2>&1 || scripts/install-deps

userland:
	@set -e; for d in $(USER_DIRS); do $(MAKE) -C $$d all; done

modules:
ifneq ($(HAVE_DRIVER),)
	$(MAKE) -C driver KDIR=$(KDIR)
endif

# Modules for every guest kernel, each built in its own copy of the sources
# (an out-of-tree build writes beside its sources).  A debug kernel
# (6.12-debug, built and cached by scripts/debug-kernel on first use) also
# gets the harness self-tests' module that provokes its detectors.
test-modules:
ifneq ($(HAVE_DRIVER),)
	@set -e; mkdir -p $(BUILD); list=$(BUILD)/.test-kernels.$$$$; scripts/test-kernels --kdir $(TEST_KERNELS) > $$list; \
	while read rel kdir; do \
		d=$(BUILD)/kmod/$$rel; mkdir -p $$d; \
		rm -rf $$d/driver $$d/uapi $$d/provoke; cp -r driver uapi $$d/; \
		$(MAKE) -C $$d/driver KDIR=$$kdir; \
		case $$rel in *-debug) \
			cp -r selftests/harness/provoke $$d/; \
			$(MAKE) -C $$d/provoke KDIR=$$kdir;; \
		esac; \
	done < $$list; rm -f $$list
endif

selftests:
	@set -e; for s in $(KSFT_SUITES); do \
		mkdir -p $(BUILD)/ksft/$$s; \
		$(MAKE) -C selftests/$$s OUTPUT=$(BUILD)/ksft/$$s KSFT_DIR=$(KSFT_DIR); \
	done

check: deps
	@scripts/check

demo: deps
	@scripts/demo

bench: deps
	@if [ -x scripts/bench ]; then scripts/bench; else \
		echo "bench: no benchmarks yet"; exit 1; fi

# make install: library, tools, server, man pages, udev rule, ivshmem group,
# examples, and the modules for KDIR's kernel (INSTALL_MODULES=no leaves
# them out).  Without DESTDIR it also creates the group and refreshes
# ldconfig, depmod and udev.  make dkms-install installs the same but hands
# the modules to DKMS (/usr/src/ivshmem-$(VERSION)); with DESTDIR it only
# stages that source tree.  Documentation/install.rst has the file list.
VERSION		:= $(shell cat $(TOP)/VERSION)
INSTALL_MODULES	?= yes
ifneq ($(HAVE_DRIVER),)
ifeq ($(INSTALL_MODULES),yes)
MOD_RELEASE	:= $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null)
endif
endif

.PHONY: dkms-install dkms-uninstall check-distro check-distro-deb deb

# Each component's install builds what it installs, and no more (no test
# builds such as the sanitizer ones).
install:
	@set -e; for d in $(USER_DIRS); do $(MAKE) -C $$d install; done
ifneq ($(MOD_RELEASE),)
	$(MAKE) -C driver KDIR=$(KDIR) install
endif
	@$(MAKE) --no-print-directory -C packaging install MOD_RELEASES=$(MOD_RELEASE)

uninstall:
	@set -e; for d in $(USER_DIRS); do $(MAKE) -C $$d uninstall; done
	@$(MAKE) --no-print-directory -C packaging uninstall MOD_RELEASES=$(MOD_RELEASE)

dkms-install:
	@$(MAKE) --no-print-directory install INSTALL_MODULES=no
	@KERNELRELEASE="$(KERNELRELEASE)" packaging/dkms-setup install $(TOP)

dkms-uninstall:
	@packaging/dkms-setup uninstall $(TOP)
	@$(MAKE) --no-print-directory uninstall INSTALL_MODULES=no

# The Debian packages, built by dpkg-buildpackage in a clean copy of the
# tree: build/deb/*.deb (Documentation/install.rst, "Debian packages").
deb:
	@packaging/build-deb

# A Debian 12 guest (debootstrap, cached) installs the project with DKMS and
# checks udev, permissions and a second kernel: selftests/distro/README.
check-distro: deps
	@selftests/distro/run

# The same with the Debian packages of make deb: apt-get install, upgrade
# to a later version, reboot, purge.
check-distro-deb: deps
	@selftests/distro/run --debs

clean:
	@for d in $(USER_DIRS) $(if $(HAVE_DRIVER),driver); do $(MAKE) -C $$d clean; done
	rm -rf $(BUILD)
