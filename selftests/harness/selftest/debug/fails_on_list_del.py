# SPDX-License-Identifier: GPL-2.0
"""Harness self-test on the debug kernel: a list_del() of a deleted entry must
fail the scenario, recognised as a report of list corruption, even when
every test passed."""


def scenario(s):
    s.expect_report = 'list corruption'
    a = s.guest('a', modules=['harness_provoke'])
    a.run('echo list_del > /sys/kernel/debug/harness_provoke/provoke')
    a.run('check everything_else_passes true')
