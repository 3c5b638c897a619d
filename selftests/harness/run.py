#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run guest scenarios on one or more kernels and print TAP.

  run.py [--kernel 6.1] [--kernel 6.12] [--logdir DIR] SCENARIO.py...

Exit status: 0 all passed, 1 a test failed, 2 usage or harness error.
"""

import argparse
import importlib.util
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import harness  # noqa: E402


def load(path):
    spec = importlib.util.spec_from_file_location('scenario_' + os.path.basename(path)[:-3],
                                                  path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not hasattr(mod, 'scenario'):
        raise harness.HarnessError('%s has no scenario(s) function' % path)
    return mod


def _terminate(signum, frame):
    raise KeyboardInterrupt('signal %d' % signum)


class Tap:
    def __init__(self):
        self.n = 0
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def result(self, ok, name, detail='', skip=False):
        self.n += 1
        if skip:
            self.skipped += 1
            print('ok %d - %s # SKIP %s' % (self.n, name,
                                           detail.split('SKIP', 1)[-1].strip()), flush=True)
            return
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print('%s %d - %s' % ('ok' if ok else 'not ok', self.n, name), flush=True)
        if detail and not ok:
            print('#   ' + detail, flush=True)


def main():
    ap = argparse.ArgumentParser(description='Boot QEMU guests and run ivshmem scenarios.')
    ap.add_argument('scenarios', nargs='+', help='scenario files (selftests/scenarios/*.py)')
    ap.add_argument('--kernel', action='append', help='6.1, 6.12, 6.12-debug or a full '
                    'release (repeatable; default: 6.1 and 6.12)')
    ap.add_argument('--build-dir', default=os.path.join(harness.TOP, 'build'),
                    help='where build/kmod/<release> and build/ksft live')
    ap.add_argument('--logdir', default=os.path.join(harness.TOP, 'build', 'guest-logs'))
    ap.add_argument('--accel', default=os.environ.get('IVSHMEM_ACCEL', 'tcg'),
                    help='QEMU accelerator (tcg, or kvm where it works)')
    ap.add_argument('--timeout', type=int, help='seconds per scenario (default: 300 or '
                    'the scenario\'s own)')
    ap.add_argument('--expect-fail', action='store_true',
                    help='harness self-test: pass only when the scenario fails')
    args = ap.parse_args()
    kernels = args.kernel or ['6.1', '6.12']

    signal.signal(signal.SIGINT, _terminate)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    tap = Tap()
    print('TAP version 13', flush=True)
    status = 0
    try:
        for kernel in kernels:
            for path in args.scenarios:
                mod = load(path)
                name = os.path.splitext(os.path.basename(path))[0]
                logdir = os.path.join(args.logdir, kernel, name)
                s = harness.Scenario(path, kernel, args.build_dir, logdir, accel=args.accel,
                                     timeout=args.timeout)
                label = '%s/%s' % (kernel, name)
                start = time.time()
                try:
                    mod.scenario(s)
                    if args.timeout:
                        s.timeout = args.timeout
                    results = s.run()
                except harness.Skip as e:
                    tap.result(True, label, 'SKIP ' + str(e), skip=True)
                    continue
                except harness.HarnessError as e:
                    tap.result(False, label + ': harness', str(e))
                    continue
                finally:
                    s.cleanup()
                harness.log('%s: %.0fs, logs in %s' % (label, time.time() - start, logdir))
                if args.expect_fail:
                    bad = [r for r in results if not r[0] and not r[3]]
                    for r in bad:
                        harness.log('expected failure seen: %s %s' % (r[1], r[2]))
                    ok = bool(bad)
                    if s.expect_report:
                        # It must fail for the right reason: that detector's report.
                        ok = any(harness.reported_by(r[2], s.expect_report) for r in bad)
                    tap.result(ok, label + ': fails as it must' +
                               (' (%s)' % s.expect_report if s.expect_report else ''))
                    continue
                for ok, rname, detail, skip in results:
                    tap.result(ok, '%s/%s' % (label, rname), detail, skip)
    except KeyboardInterrupt as e:
        harness.log('interrupted (%s): guests stopped, files removed' % (e or 'SIGINT'))
        status = 130
    except harness.HarnessError as e:
        print('run.py: %s' % e, file=sys.stderr)
        status = 2
    finally:
        harness.cleanup_cache()
    print('1..%d' % tap.n)
    print('# %d passed, %d failed, %d skipped' % (tap.passed, tap.failed, tap.skipped))
    if status:
        return status
    return 1 if tap.failed else 0


if __name__ == '__main__':
    sys.exit(main())
