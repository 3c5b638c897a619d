# SPDX-License-Identifier: GPL-2.0
"""Harness self-test on the debug kernel: rcu_dereference() outside a read-side
section (suspicious RCU usage) must fail the scenario, recognised as a
report of RCU, even when every test passed."""


def scenario(s):
    s.expect_report = 'RCU'
    a = s.guest('a', modules=['harness_provoke'])
    a.run('echo rcu > /sys/kernel/debug/harness_provoke/provoke')
    a.run('check everything_else_passes true')
