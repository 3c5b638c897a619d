# SPDX-License-Identifier: GPL-2.0
"""Harness self-test on the debug kernel: a kmalloc() that nothing refers to
(kmemleak) must fail the scenario, recognised as a report of kmemleak, even
when every test passed."""


def scenario(s):
    s.expect_report = 'kmemleak'
    a = s.guest('a', modules=['harness_provoke'])
    a.run('echo leak > /sys/kernel/debug/harness_provoke/provoke')
    a.run('check everything_else_passes true')
