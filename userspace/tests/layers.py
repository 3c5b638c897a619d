#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The layers of libivshmem: a file of userspace/lib calls only into the
layers below its own (Documentation/contributing.rst, "The library in
brief").

The objects tell: every symbol that one object of the library needs and
another defines must be defined in a lower layer.  make -C userspace check
runs this through tests/run.py; run alone (make -C userspace layers, or
tests/layers.py [LIBDIR] after make), it prints TAP and exits 1 on a
failure.
"""

import glob
import os
import subprocess
import sys

# Lowest first, as in the source list of userspace/Makefile.
LAYERS = [
    ('core', ['handle', 'wire', 'region']),
    ('header', ['header']),
    ('pci', ['pci']),
    ('backends', ['chardev', 'uio', 'sysfs', 'host']),
    ('discovery', ['enum']),
    ('entry points', ['libivshmem']),
    ('channels', ['chan']),
]


def nm(obj, *opts):
    """The global symbols nm lists for an object with the options."""
    p = subprocess.run(['nm', '-g'] + list(opts) + [obj], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError('nm %s: %s' % (obj, p.stderr.strip()))
    return set(line.split()[-1] for line in p.stdout.splitlines() if line.strip())


def check(libdir):
    """The results, [(ok, name, detail)], for the objects in libdir."""
    layer = {f: i for i, (_, files) in enumerate(LAYERS) for f in files}
    sources = set(os.path.basename(p)[:-2] for p in glob.glob(os.path.join(libdir, '*.c')))
    results = [(sources == set(layer), 'layers: every source of the library has a layer',
                'without a layer: %s; in a layer but missing: %s' %
                (' '.join(sorted(sources - set(layer))) or '-',
                 ' '.join(sorted(set(layer) - sources)) or '-'))]
    missing = [f + '.o' for f in layer if not os.path.exists(os.path.join(libdir, f + '.o'))]
    if missing:
        results.append((False, 'layers: the objects are built',
                        'missing: %s (make -C userspace all)' % ' '.join(missing)))
        return results

    defined_in, needs = {}, {}
    for f in layer:
        obj = os.path.join(libdir, f + '.o')
        for sym in nm(obj, '--defined-only'):
            defined_in[sym] = f
        needs[f] = nm(obj, '--undefined-only')
    for i, (name, files) in enumerate(LAYERS):
        for f in files:
            up = ['%s, defined in %s.c (%s)' % (sym, defined_in[sym],
                                               LAYERS[layer[defined_in[sym]]][0])
                  for sym in sorted(needs[f])
                  if sym in defined_in and layer[defined_in[sym]] >= i]
            results.append((not up, 'layers: %s.c (%s) calls only into lower layers' % (f, name),
                            '%s.c uses %s' % (f, '; '.join(up))))
    return results


def main():
    libdir = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), 'lib')
    print('TAP version 13')
    results = check(libdir)
    for n, (ok, name, detail) in enumerate(results, 1):
        print('%s %d - %s' % ('ok' if ok else 'not ok', n, name))
        if not ok:
            for line in detail.splitlines():
                print('#   ' + line)
    print('1..%d' % len(results))
    return 0 if all(ok for ok, _, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main())
