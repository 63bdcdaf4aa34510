"""`dpi transparency …`: save a checkpoint, and verify that the log only grew since."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import NoReturn, Optional

import httpx
import typer
from rich.console import Console

from dpistack.transparency import merkle, note

app = typer.Typer(help="The transparency log: checkpoints and verification.", no_args_is_help=True)
console = Console()


class _Source:
    """The log, over HTTP (--url) or from a local instance (--data-dir)."""

    def __init__(self, url: Optional[str], data_dir: Optional[Path]):
        if url and data_dir:
            raise typer.BadParameter("give --url or --data-dir, not both")
        self.http = httpx.Client(base_url=url, timeout=30) if url else None
        self.platform = None
        if not url:
            from dpistack.core.config import Settings
            from dpistack.core.platform import Platform

            self.platform = Platform.open(Settings(data_dir=data_dir) if data_dir else Settings())

    def checkpoint(self) -> str:
        if self.http:
            return self._get("/transparency/v1/checkpoint").text
        from dpistack.transparency import service

        return service.signed_checkpoint(self.platform)

    def verifier_key(self) -> str:
        if self.http:
            return self._get("/transparency/v1/verifier-key").text.strip()
        from dpistack.transparency import service

        return service.verifier_key(self.platform)

    def consistency(self, first: int, second: int) -> list[bytes]:
        if self.http:
            body = self._get("/transparency/v1/proof/consistency", params={"first": first, "second": second}).json()
            return [base64.b64decode(h) for h in body["hashes"]]
        from dpistack.transparency import service

        return service.consistency_proof(self.platform, first, second)

    def _get(self, path: str, **kw) -> httpx.Response:
        response = self.http.get(path, **kw)
        response.raise_for_status()
        return response


URL = typer.Option(None, "--url", help="Base URL of a running instance.")
DATA_DIR = typer.Option(None, "--data-dir", exists=True, file_okay=False,
                        help="A local instance (default ./var or $DPI_DATA_DIR).")


@app.command()
def checkpoint(url: Optional[str] = URL, data_dir: Optional[Path] = DATA_DIR,
               out: Optional[Path] = typer.Option(None, "--out", help="Save it to this file.")) -> None:
    """Print (or save) the current signed checkpoint."""
    try:
        text = _Source(url, data_dir).checkpoint()
    except httpx.HTTPError as exc:
        _fail(f"cannot fetch the checkpoint: {exc}", "CHECKPOINT FAILED")
    if out:
        out.write_text(text)
        console.print(f"checkpoint saved to {out}")
    else:
        typer.echo(text, nl=False)


def _fail(message: str, what: str = "LOG VERIFICATION FAILED") -> NoReturn:
    console.print(f"[bold red]{what}:[/] {message}")
    raise typer.Exit(1)


@app.command()
def verify(
    saved: Optional[Path] = typer.Option(None, "--from", exists=True, dir_okay=False,
                                         help="A checkpoint saved earlier."),
    usage: Optional[Path] = typer.Option(None, "--usage", exists=True, dir_okay=False,
                                         help="My data-usage answer (GET /resident/v1/data-usage), saved as JSON."),
    url: Optional[str] = URL,
    data_dir: Optional[Path] = DATA_DIR,
) -> None:
    """Check that the current log extends the saved checkpoint (RFC 9162 consistency proof);
    with --usage, that every entry of a person's data-usage answer is in the log (inclusion
    proofs against its signed checkpoint) and that the log still extends that checkpoint."""
    if usage is not None:
        return _verify_usage(usage, _Source(url, data_dir))
    if saved is None:
        raise typer.BadParameter("give --from CHECKPOINT or --usage FILE")
    try:
        old_text = saved.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read the saved checkpoint {saved}: {exc}")
    source = _Source(url, data_dir)
    try:
        key, new_text = source.verifier_key(), source.checkpoint()
    except httpx.HTTPError as exc:
        _fail(f"cannot fetch the log's checkpoint and key: {exc}")
    try:
        note.verify_note(old_text, key)
        note.verify_note(new_text, key)
        old, new = note.parse_checkpoint(old_text), note.parse_checkpoint(new_text)
    except note.NoteError as exc:
        _fail(str(exc))
    if old.origin != new.origin:
        _fail(f"the saved checkpoint is of another log ({old.origin}, not {new.origin})")
    if new.size < old.size:
        _fail(f"the log shrank from {old.size} to {new.size} entries")
    if new.size == old.size:
        if new.root != old.root:
            _fail(f"same size {new.size} but a different root: the log was rewritten")
    elif old.size == 0:
        # Every log extends the empty one; RFC 9162 defines no proof from size 0.
        if old.root != merkle.EMPTY_ROOT:
            _fail("the saved checkpoint says 0 entries but its root is not the empty tree's")
    else:
        try:
            proof = source.consistency(old.size, new.size)
        except Exception as exc:  # noqa: BLE001 - any failure to get a proof is a failure to verify
            _fail(f"no consistency proof from {old.size} to {new.size}: {exc}")
        if not merkle.verify_consistency(old.size, new.size, old.root, new.root, proof):
            _fail(f"the log at {new.size} entries does not extend the saved one at {old.size}: it was rewritten")
    console.print(f"[bold green]OK[/] {new.origin}: {old.size} → {new.size} entries, append-only, signatures valid")


def _verify_usage(path: Path, source: "_Source") -> None:
    import json

    try:
        answer = json.loads(path.read_text(encoding="utf-8"))
        checkpoint_text, entries = answer["checkpoint"], answer["entries"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        _fail(f"cannot read the data-usage answer {path}: {exc}", "USAGE VERIFICATION FAILED")
    try:
        key, current = source.verifier_key(), source.checkpoint()
        note.verify_note(checkpoint_text, key)
        note.verify_note(current, key)
        then, now = note.parse_checkpoint(checkpoint_text), note.parse_checkpoint(current)
    except httpx.HTTPError as exc:
        _fail(f"cannot fetch the log's checkpoint and key: {exc}", "USAGE VERIFICATION FAILED")
    except note.NoteError as exc:
        _fail(f"the answer's checkpoint is not the log's: {exc}", "USAGE VERIFICATION FAILED")
    for e in entries:
        try:
            blob = base64.b64decode(e["entry"], validate=True)
            proof = [base64.b64decode(h, validate=True) for h in e["inclusion_proof"]]
            index = int(e["index"])
            shown = json.loads(blob)
        except (KeyError, TypeError, ValueError) as exc:
            _fail(f"entry {e!r:.80} is malformed: {exc}", "USAGE VERIFICATION FAILED")
        if not merkle.verify_inclusion(merkle.hash_leaf(blob), index, then.size, proof, then.root):
            _fail(f"entry {index} is not in the log at the answer's checkpoint", "USAGE VERIFICATION FAILED")
        if any(shown.get(k) != e.get(k) for k in ("accessor", "purpose", "consent_id", "legal_basis")):
            _fail(f"entry {index}: what the answer shows differs from the logged entry", "USAGE VERIFICATION FAILED")
    if now.size < then.size or (now.size == then.size and now.root != then.root):
        _fail("the log no longer matches the answer's checkpoint: it was rewritten", "USAGE VERIFICATION FAILED")
    if then.size and now.size > then.size:
        proof = source.consistency(then.size, now.size)
        if not merkle.verify_consistency(then.size, now.size, then.root, now.root, proof):
            _fail("the current log does not extend the answer's checkpoint", "USAGE VERIFICATION FAILED")
    console.print(f"[green]OK[/]: all {len(entries)} accesses to your data are in the log "
                  f"(checkpoint of {then.size} entries, signed; the log at {now.size} extends it)")
