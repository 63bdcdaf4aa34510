"""A credential presentation as a printable QR code (issue #11, offline verification).

The text in the code is ``DPI1:`` followed by the base45 encoding (RFC 9285) of the
zlib-compressed (RFC 1950) presentation, as the EU Digital COVID Certificate carries its CWT:
base45 uses only characters of the QR code's alphanumeric mode (uppercase letters, digits,
`` $%*+-./:``), which packs 5.5 bits a character instead of byte mode's 8, and the prefix
(alphanumeric too) names the format and its version.

The budget is one QR code of version 40 at error correction L: 4,296 alphanumeric characters,
so at most 2,860 compressed bytes (4,290 base45 characters after the prefix). A larger
presentation is refused with :class:`~dpistack.credentials.errors.OversizedQr` rather than
split over several codes. A printed card has no fresh nonce to answer: what it carries is the
SD-JWT with the disclosures chosen for the card and no key-binding JWT
(:func:`card_presentation`); a wallet showing a code on its screen may add one.
"""

from __future__ import annotations

import io
import zlib

from dpistack.credentials import errors as E
from dpistack.credentials import sdjwt

PREFIX = "DPI1:"
QR_MAX_ALPHANUMERIC = 4296  # version 40, error correction L (ISO/IEC 18004 table 7)
MAX_BASE45_CHARS = QR_MAX_ALPHANUMERIC - len(PREFIX)
MAX_COMPRESSED_BYTES = MAX_BASE45_CHARS // 3 * 2 + (1 if MAX_BASE45_CHARS % 3 == 2 else 0)  # 2,860

# -- base45 (RFC 9285) -----------------------------------------------------------------------
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def b45encode(data: bytes) -> str:
    """RFC 9285 §4: each two bytes as a 16-bit number in three base-45 digits, least
    significant first; a last odd byte in two."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        e, n = divmod(n, 45 * 45)
        d, c = divmod(n, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """RFC 9285 §4.2; ValueError for a character outside the alphabet, a dangling character or
    a triplet above 65535 (RFC 9285 §6: decoders must refuse these)."""
    try:
        values = [_VALUE[c] for c in text]
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not a base45 character") from exc
    if len(values) % 3 == 1:
        raise ValueError("base45 text cannot have a length of 3n+1")
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i:i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 45 * 45
            if n > 0xFFFF:
                raise ValueError("a base45 triplet encodes more than 16 bits")
            out += n.to_bytes(2, "big")
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise ValueError("a final base45 pair encodes more than 8 bits")
            out.append(n)
    return bytes(out)


# -- presentations in QR text ----------------------------------------------------------------
def card_presentation(sd_jwt: str, disclose: list[str] | set[str]) -> str:
    """The issuer's JWT with only the named claims' disclosures, no key binding (a printed card)."""
    wanted = set(disclose)
    jwt = sd_jwt.split("~", 1)[0]
    return "~".join([jwt, *(d for d, name, _ in sdjwt.disclosures_of(sd_jwt) if name in wanted), ""])


def encode(presentation: str) -> str:
    """The QR text of a presentation; :class:`OversizedQr` if it exceeds one code."""
    compressed = zlib.compress(presentation.encode("ascii"), 9)
    if len(compressed) > MAX_COMPRESSED_BYTES:
        raise E.OversizedQr(f"The presentation compresses to {len(compressed)} bytes; one QR code (version 40-L, "
                            f"{QR_MAX_ALPHANUMERIC} alphanumeric characters) holds at most {MAX_COMPRESSED_BYTES}. "
                            "Disclose fewer claims.")
    return PREFIX + b45encode(compressed)


def decode(text: str) -> str:
    """The presentation in QR text (the prefix, base45, zlib); :class:`MalformedQr` or
    :class:`OversizedQr` else. Decompression stops past the largest presentation accepted."""
    text = text.strip()
    if len(text) > QR_MAX_ALPHANUMERIC:
        raise E.OversizedQr(f"QR text of {len(text)} characters: one code holds at most {QR_MAX_ALPHANUMERIC}.")
    if not text.startswith(PREFIX):
        raise E.MalformedQr(f"QR text of a DPI credential starts with {PREFIX!r}.")
    try:
        compressed = b45decode(text[len(PREFIX):])
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, sdjwt.MAX_PRESENTATION_CHARS + 1)
        if len(raw) > sdjwt.MAX_PRESENTATION_CHARS:
            raise E.OversizedQr(f"The QR code inflates past {sdjwt.MAX_PRESENTATION_CHARS} characters.")
        if not inflater.eof or inflater.unused_data:
            raise E.MalformedQr("The QR code's compressed data is truncated or has trailing bytes.")
        return raw.decode("ascii")
    except (ValueError, zlib.error, UnicodeDecodeError) as exc:
        raise E.MalformedQr(f"The QR text does not decode: {exc}.") from exc


def render(text: str, kind: str = "svg", side_mm: float = 40.0) -> tuple[bytes, dict]:
    """The QR code of ``text`` as an SVG (in millimetres, ``side_mm`` wide with its quiet zone)
    or a PNG; and facts about the symbol (version, error level, module size in mm).

    The error correction is raised as far as the version that holds the text allows."""
    import segno

    code = segno.make_qr(text, error="l", boost_error=True, mode="alphanumeric")
    modules = code.symbol_size(scale=1)[0]
    module_mm = side_mm / modules
    out = io.BytesIO()
    if kind == "svg":
        code.save(out, kind="svg", unit="mm", scale=module_mm, xmldecl=False, svgns=True)
    elif kind == "png":
        code.save(out, kind="png", scale=max(1, round(module_mm * 300 / 25.4)))  # 300 dpi
    else:
        raise ValueError(f"unknown image kind {kind!r} (svg or png)")
    return out.getvalue(), {"version": code.version, "error": code.error, "modules": modules,
                            "module_mm": round(module_mm, 3)}
