# SPDX-License-Identifier: GPL-2.0
"""Harness self-test: a kselftest program run with ksft that dies must
fail the scenario, even when it had printed as many results as it planned
(here one, then SIGSEGV) and the script's own checks after it pass."""


def scenario(s):
    a = s.guest('a', modules=[])
    a.run(r'''
ksft sh -c 'echo "TAP version 13"; echo "1..1"; echo "ok 1 first"; kill -SEGV $$'
check after_the_crash true
check_eq and_another 1 1
''')
