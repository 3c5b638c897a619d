# SPDX-License-Identifier: GPL-2.0
"""Harness self-test on the debug kernel: a sleeping call under a spinlock
(sleeping function called from invalid context) must fail the scenario,
recognised as a report of atomic sleep, even when every test passed."""


def scenario(s):
    s.expect_report = 'atomic sleep'
    a = s.guest('a', modules=['harness_provoke'])
    a.run('echo sleep > /sys/kernel/debug/harness_provoke/provoke')
    a.run('check everything_else_passes true')
