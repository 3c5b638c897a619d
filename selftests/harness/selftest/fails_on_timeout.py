# SPDX-License-Identifier: GPL-2.0
"""Harness self-test: a guest that hangs must fail, not hang the run."""


def scenario(s):
    s.timeout = 20
    a = s.guest('a', modules=[])
    a.run('sleep 1000')
