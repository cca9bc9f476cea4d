"""The ``augment`` command: it parses, calls the library, and presents what comes back.

Exit status: 0 success, 1 the job ran but failed (too many bad inputs, a replay that
is not bit-exact, a launched job that failed), 2 a usage or spec error found before any
work, 130/143 stopped by SIGINT/SIGTERM.

One module per group of subcommands, each adding its own options to the parser
(``_commands``): ``_process`` (what a job's container runs), ``_run`` (``run``,
``local-run``), ``_plan``, ``_image``, ``_spec`` (``validate``, ``presets``, ``ops``,
``samples``), ``_preview`` (``preview``, ``replay``) and ``_sweep``. ``_errors`` says how
a command failed, in the command line's terms, and with which exit status; ``_streams``
keeps stdin, stdout and stderr usable whatever the command was started with.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from augment.cli._commands import parser
from augment.cli._errors import _in_run_terms as _in_run_terms
from augment.cli._errors import _path_error as _path_error
from augment.cli._errors import report_failure
from augment.cli._run import _job_lines as _job_lines
from augment.cli._run import _output_summaries as _output_summaries
from augment.cli._streams import _tolerant as _tolerant
from augment.cli._streams import reader_gone, usable_std_streams

# The private names the tests reach for (imported above "as" themselves, and _parser) stay
# importable here, as they were when the command was one module, augment/cli.py.
_parser = parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Errors are one readable line (or a list of spec problems), never a bare
    traceback. Inside a container the reason also goes to ``/opt/ml/output/message``,
    which SageMaker shows as the job's exit message.
    """
    usable_std_streams()
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a refused argument (argparse said why, exit status 2)
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    except BrokenPipeError:  # `augment --help | head -1`
        return reader_gone()
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a reader that left is seen, not in the interpreter's teardown
        return code
    except (Exception, KeyboardInterrupt) as e:
        # argv None: the command itself, not a caller of main(); a second Ctrl-C leaves at once, as asked
        return report_failure(args, e, leave_at_once=argv is None)


def job_options(arguments: Sequence[str]) -> dict[str, Any]:
    """Kept for callers of the old name: :func:`augment.options.parse_job_arguments`."""
    from augment.options import parse_job_arguments

    return parse_job_arguments(arguments)
