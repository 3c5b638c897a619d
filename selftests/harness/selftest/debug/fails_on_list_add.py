# SPDX-License-Identifier: GPL-2.0
"""Harness self-test on the debug kernel: a corrupted list under list_add()
must fail the scenario, recognised as a report of list corruption, even when
every test passed."""


def scenario(s):
    s.expect_report = 'list corruption'
    a = s.guest('a', modules=['harness_provoke'])
    a.run('echo list_add > /sys/kernel/debug/harness_provoke/provoke')
    a.run('check everything_else_passes true')
