# SPDX-License-Identifier: GPL-2.0
"""Harness self-test on the debug kernel: a shift past the width of int (UBSAN)
must fail the scenario, recognised as a report of UBSAN, even when every
test passed."""


def scenario(s):
    s.expect_report = 'UBSAN'
    a = s.guest('a', modules=['harness_provoke'])
    a.run('echo ubsan > /sys/kernel/debug/harness_provoke/provoke')
    a.run('check everything_else_passes true')
