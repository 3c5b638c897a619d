# SPDX-License-Identifier: GPL-2.0
"""Harness self-test on the debug kernel: a slab out-of-bounds read (KASAN)
must fail the scenario, recognised as a report of KASAN, even when every
test passed."""


def scenario(s):
    s.expect_report = 'KASAN'
    a = s.guest('a', modules=['harness_provoke'])
    a.run('echo kasan > /sys/kernel/debug/harness_provoke/provoke')
    a.run('check everything_else_passes true')
