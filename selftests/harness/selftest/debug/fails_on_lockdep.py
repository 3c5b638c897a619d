# SPDX-License-Identifier: GPL-2.0
"""Harness self-test on the debug kernel: an AB-BA lock order (lockdep's
possible circular locking) must fail the scenario, recognised as a report of
lockdep, even when every test passed."""


def scenario(s):
    s.expect_report = 'lockdep'
    a = s.guest('a', modules=['harness_provoke'])
    a.run('echo lockdep > /sys/kernel/debug/harness_provoke/provoke')
    a.run('check everything_else_passes true')
