# SPDX-License-Identifier: GPL-2.0
"""Harness self-test: a WARNING in the guest's kernel log must fail the
scenario even when every test passed."""


def scenario(s):
    a = s.guest('a', modules=[])
    a.run('echo "WARNING: CPU: 0 PID: 1 at harness/selftest.c:1 deliberate" > /dev/kmsg')
    a.run('check everything_else_passes true')
