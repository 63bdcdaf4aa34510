"""The holder wallet's file: its credentials and their private keys, encrypted at rest.

One file, ``wallet.json`` in the wallet's directory (mode 0600, the directory 0700), holding a
JSON envelope:

* ``format`` ``dpi-wallet/1``; ``kdf``: scrypt (RFC 7914) with its ``n``, ``r``, ``p`` and a
  random 16-byte ``salt``, deriving a 256-bit key from the holder's passphrase;
* ``cipher`` ``A256GCM``: AES-256-GCM with a fresh 96-bit ``nonce`` at every save, over the
  wallet's JSON (``ciphertext``, tag included), the envelope's header as associated data (so
  changing the KDF parameters or the format is detected like any other tampering).

A wrong passphrase and an altered file are one error (:class:`WrongPassphrase`): GCM cannot
tell them apart, and neither can anyone else. Saves are atomic (a temporary file, fsync,
rename). The passphrase's key is kept for the life of the open wallet, never written.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

FORMAT = "dpi-wallet/1"
FILE_NAME = "wallet.json"
SCRYPT_N = 2 ** 17  # OWASP's minimum for scrypt (r=8, p=1): 128 MiB, about half a second here
SCRYPT_N_RANGE = (2 ** 14, 2 ** 20)  # what a file may ask for (a larger n would be a memory bomb)
MIN_PASSPHRASE = 8


class WalletStoreError(Exception):
    """The wallet file cannot be used; the message says why, for the holder."""


class WrongPassphrase(WalletStoreError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _header_aad(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


class WalletFile:
    """An open wallet: ``data`` (a dict) in memory, :meth:`save` to write it encrypted."""

    def __init__(self, path: Path, header: dict, key: bytes, data: dict):
        self.path, self._header, self._key, self.data = path, header, key, data

    @staticmethod
    def location(directory: Path) -> Path:
        return Path(directory) / FILE_NAME

    @classmethod
    def create(cls, directory: Path, passphrase: str, *, n: int = SCRYPT_N) -> "WalletFile":
        """A new, empty wallet in ``directory``; :class:`WalletStoreError` if one is there."""
        if len(passphrase) < MIN_PASSPHRASE:
            raise WalletStoreError(f"Choose a passphrase of at least {MIN_PASSPHRASE} characters.")
        path = cls.location(directory)
        if path.exists():
            raise WalletStoreError(f"There is a wallet at {path} already.")
        Path(directory).mkdir(parents=True, exist_ok=True, mode=0o700)
        salt = secrets.token_bytes(16)
        header = {"format": FORMAT, "kdf": {"name": "scrypt", "n": n, "r": 8, "p": 1, "salt": _b64(salt)},
                  "cipher": "A256GCM"}
        wallet = cls(path, header, _derive(passphrase, salt, n, 8, 1), {"credentials": []})
        wallet.save()
        return wallet

    @classmethod
    def open(cls, directory: Path, passphrase: str) -> "WalletFile":
        path = cls.location(directory)
        try:
            envelope = json.loads(path.read_text())
        except FileNotFoundError:
            raise WalletStoreError(f"No wallet at {path}: make one with `dpi wallet init`.") from None
        except (OSError, ValueError) as exc:
            raise WalletStoreError(f"The wallet file {path} cannot be read: {exc}") from exc
        try:
            header = {k: envelope[k] for k in ("format", "kdf", "cipher")}
            kdf = header["kdf"]
            n, r, p, salt = int(kdf["n"]), int(kdf["r"]), int(kdf["p"]), _unb64(kdf["salt"])
            nonce, ciphertext = _unb64(envelope["nonce"]), _unb64(envelope["ciphertext"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WalletStoreError(f"{path} is not a DPI wallet file.") from exc
        if header["format"] != FORMAT or header["cipher"] != "A256GCM" or kdf.get("name") != "scrypt":
            raise WalletStoreError(f"{path} is not a {FORMAT} file (AES-256-GCM under scrypt).")
        if not (SCRYPT_N_RANGE[0] <= n <= SCRYPT_N_RANGE[1] and n & (n - 1) == 0 and r == 8 and p == 1
                and len(salt) >= 16 and len(nonce) == 12):
            raise WalletStoreError(f"{path} asks for key derivation parameters this wallet does not accept.")
        key = _derive(passphrase, salt, n, r, p)
        try:
            plaintext = AESGCM(key).decrypt(nonce, ciphertext, _header_aad(header))
        except InvalidTag:
            raise WrongPassphrase("Wrong passphrase (or the wallet file was altered).") from None
        return cls(path, header, key, json.loads(plaintext))

    def save(self) -> None:
        """Encrypt with a fresh nonce and replace the file atomically (mode 0600)."""
        nonce = secrets.token_bytes(12)
        plaintext = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        envelope: dict[str, Any] = {**self._header, "nonce": _b64(nonce),
                                    "ciphertext": _b64(AESGCM(self._key).encrypt(nonce, plaintext,
                                                                                 _header_aad(self._header)))}
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(envelope, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
