# SPDX-License-Identifier: GPL-2.0
"""Harness self-test: a failing KTAP result must fail the scenario."""


def scenario(s):
    a = s.guest('a', modules=[])
    a.run('check_eq deliberately_wrong_expectation 1 2')
