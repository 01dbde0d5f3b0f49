"""`corpmail` commands in processes forked from a warm interpreter.

A cold `corpmail scan` spends 1-2 s importing on these shared 2-core machines; a test that
starts and SIGKILLs a scan 20 times would spend most of its time there. A helper process
imports corpmail once, then forks one child per command: each child is its own process
running the real click entry point (`cli.main(["scan", ...])`), with its own app and
database connections, and can be killed like any other.

    with WarmCli(env, log_path) as warm:
        pid = warm.start("scan")
        os.kill(pid, signal.SIGKILL)
        assert warm.wait() == -signal.SIGKILL
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# The helper: no app, no connection, no thread before fork (they would be shared).
_HELPER = r"""
import json, os, sys
import corpmail.app, corpmail.models, corpmail.scanner.engine, corpmail.scanner.retry
import corpmail.admin, corpmail.autologin, corpmail.crm, corpmail.web  # what create_app loads
from corpmail.cli import cli

for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_RDWR), 1)  # stdout is the protocol pipe
        code = 0
        try:
            cli.main(args=json.loads(line), prog_name="corpmail")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class WarmCli:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # the children's stderr
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _HELPER], env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log, text=True,
        )

    def start(self, *args: str) -> int:
        """Fork a child running `corpmail ARGS`; its pid."""
        self._proc.stdin.write(json.dumps(list(args)) + "\n")
        self._proc.stdin.flush()
        return int(self._readline())

    def wait(self) -> int:
        """Wait for the child started last: its exit code, or -N when signal N ended it."""
        return int(self._readline())

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _readline(self) -> str:
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the warm corpmail helper died: {self.log_tail()}")
        return line

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait(10)
        self._proc.stdout.close()
        self._log.close()

    def __enter__(self) -> WarmCli:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
