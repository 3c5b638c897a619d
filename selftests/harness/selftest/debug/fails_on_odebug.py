# SPDX-License-Identifier: GPL-2.0
"""Harness self-test on the debug kernel: kfree() of an armed timer (ODEBUG)
must fail the scenario, recognised as a report of ODEBUG, even when every
test passed."""


def scenario(s):
    s.expect_report = 'ODEBUG'
    a = s.guest('a', modules=['harness_provoke'])
    a.run('echo odebug > /sys/kernel/debug/harness_provoke/provoke')
    a.run('check everything_else_passes true')
