"""Check a JSONL training file offline: format, exact token counts, and what training would cost.

Exit status: 0 when the file would be accepted, 1 when it would be rejected,
2 for a usage error or a path that cannot be read.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ftd.places import first_dir

if TYPE_CHECKING:
    import argparse
    from array import array
    from collections.abc import Callable, Iterator, Mapping

    from ftd.datasets.report import Report

HELP = {"validate": "validate a JSONL training file offline (format, tokens, cost)"}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("path", help="the JSONL file to check; - reads standard input")
    parser.add_argument(
        "--model",
        help="base model to train (decides tokenizer, context and price); "
        "default gpt-4.1-mini-2025-04-14, or o4-mini-2025-04-16 for reinforcement",
    )
    parser.add_argument(
        "--method",
        choices=("supervised", "dpo", "reinforcement"),
        help="training method; detected from the first valid line when omitted",
    )
    parser.add_argument(
        "--provider",
        metavar="NAME",
        help="check what this provider accepts: a profile of the configuration, or a kind "
        "(openai, azure, together); default the configuration's defaults.provider, else openai",
    )
    parser.add_argument("--epochs", type=int, help="epochs for the estimate (default: as 'auto')")
    parser.add_argument("--json", action="store_true", help="print one machine-readable report")
    parser.add_argument(
        "--samples",
        type=int,
        default=5,
        metavar="N",
        help="show the first N lines of each kind of finding (default 5)",
    )
    parser.add_argument("--workers", type=int, help="validator processes (default: one per core)")
    parser.add_argument(
        "--fix",
        metavar="OUT",
        type=Path,
        help="when the file is rejected, write its valid lines to the new file OUT "
        "(the original is left as it is; an existing OUT is never overwritten)",
    )
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        help="configuration whose [prices] and defaults.model apply "
        "(default: $FTD_CONFIG, else none)",
    )


def run(args: argparse.Namespace) -> int:
    import orjson

    from ftd.datasets.validate import Options, validate_listing_rejected
    from ftd.errors import ConfigError, InputFileError

    if args.epochs is not None and not 1 <= args.epochs <= 50:
        print("ftd validate: --epochs must be between 1 and 50", file=sys.stderr)
        return 2
    if args.samples < 0:
        print("ftd validate: --samples must be 0 or more", file=sys.stderr)
        return 2
    try:
        model, prices, provider, tokenizer = _configured(args)
    except ConfigError as exc:
        print(f"ftd validate: {exc}", file=sys.stderr)
        return 2
    options = Options(
        model=model,
        prices=prices,
        provider=provider,
        tokenizer_file=tokenizer,
        method=args.method,
        n_epochs=args.epochs,
        workers=args.workers,
        max_samples=args.samples,
    )
    with ExitStack() as cleanup:
        try:
            path = args.path if args.path != "-" else cleanup.enter_context(_spooled_stdin())
            if args.fix is not None:
                _refuse_fix_target(args.fix, path)
            report, rejected = validate_listing_rejected(path, options)
        except (InputFileError, RuntimeError) as exc:  # RuntimeError: no tokenizer files
            print(f"ftd validate: {exc}", file=sys.stderr)
            return 2
        if args.path == "-":
            report.path = STDIN_NAME
        if args.json:
            out = orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2) + b"\n"
            sys.stdout.buffer.write(out)
        else:
            print(report.render())
        if args.fix is not None:
            fixed = _fix(report, path, args.fix, rejected, options.max_line_bytes)
            if fixed is not None:
                return fixed
    return 0 if report.accepted else 1


STDIN_NAME = "(standard input)"


@contextmanager
def _spooled_stdin() -> Iterator[str]:
    """Standard input copied to a temporary file: the validator reads its file twice."""
    with tempfile.NamedTemporaryFile(prefix="ftd-validate-", suffix=".jsonl") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
        spool.flush()
        yield spool.name


def _refuse_fix_target(target: Path, source: str) -> None:
    from ftd.errors import InputFileError

    if target.exists() or target.is_symlink():
        same = target.exists() and os.path.samefile(target, source)
        what = "is the file being checked" if same else "exists; it is not overwritten"
        raise InputFileError(str(target), f"--fix target {what}")


def _fix(report: Report, source: str, target: Path, rejected: array[int], limit: int) -> int | None:
    """Write the valid lines; an exit status when that failed, else None."""
    from ftd.datasets.fix import write_valid_lines

    if report.accepted:
        print(f"ftd validate: accepted as it is; {target} not written", file=sys.stderr)
        return None
    if any(issue.kind == "compressed" for issue in report.errors):
        print(f"ftd validate: {target} not written: decompress the file first", file=sys.stderr)
        return None
    try:
        kept = write_valid_lines(source, str(target), rejected, max_line_bytes=limit)
    except FileExistsError:
        print(f"ftd validate: {target}: exists; it is not overwritten", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ftd validate: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(
        f"ftd validate: wrote {target}: kept {kept.kept:,} line(s), dropped {kept.rejected:,} "
        f"rejected and {kept.blank:,} blank; the original is unchanged",
        file=sys.stderr,
    )
    return None


# The configuration's file names, as ftd.config spells them; kept here so that
# looking for a file does not import pydantic (a third of a small run's time).
CONFIG_ENV = "FTD_CONFIG"
CONFIG_FILE_NAME = "config.toml"


def config_file_exists(path: Path | None, env: Mapping[str, str]) -> bool:
    """Whether ftd.config.find_config_file would name a file: -c, $FTD_CONFIG, or systemd's."""
    if path is not None or env.get(CONFIG_ENV):
        return True
    directory = first_dir(env, "CONFIGURATION_DIRECTORY")
    return directory is not None and (directory / CONFIG_FILE_NAME).is_file()


KINDS = ("openai", "azure", "compatible", "together")


def _configured(
    args: argparse.Namespace,
) -> tuple[str | None, Callable[[str], tuple[float | None, float | None]] | None, str, str | None]:
    """The model, price table, provider kind and tokenizer.json of the configuration."""
    named: str | None = getattr(args, "provider", None)
    if not config_file_exists(args.config, os.environ):
        if named is not None and named not in KINDS:
            from ftd.errors import ConfigError

            raise ConfigError(
                "--provider",
                f"{named!r} is no provider kind ({', '.join(KINDS)}), and no configuration "
                "names profiles",
            )
        return args.model, None, named or "openai", None
    from ftd.config import load_settings

    settings = load_settings(args.config)
    if named is not None and named not in settings.profiles and named in KINDS:
        kind = named
        profile = None
    else:
        profile = settings.profile(named or settings.defaults.provider)
        kind = profile.kind

    def prices(model: str) -> tuple[float | None, float | None]:
        price = settings.price_for(model)
        return price.training_per_mtok, price.training_per_hour

    model = args.model
    default_kind = settings.profile(settings.defaults.provider).kind
    # The defaults' model belongs to the defaults' provider: a Together profile does not
    # train an OpenAI model.
    if model is None and args.method != "reinforcement" and kind == default_kind:
        model = settings.defaults.model
    tokenizer = None
    if profile is not None and kind == "together":
        from ftd.datasets.together_format import DEFAULT_MODEL

        tokenizer = profile.together.tokenizer_for(model or DEFAULT_MODEL)
    return model, prices, kind, tokenizer
