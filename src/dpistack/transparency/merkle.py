"""RFC 9162 Merkle tree hashing, proofs and their verification.

Pure functions plus :class:`MerkleTree`, an in-memory store of the hashes of all complete
(perfect) subtrees: level 0 holds the leaf hashes, level L holds the hash of every aligned run
of 2^L leaves. Any subtree hash the RFC's recursive definitions need is then at most
O(log n) look-ups, so proofs are cheap at millions of entries.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Iterable, Sequence

HASH_SIZE = 32


def hash_leaf(entry: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256()


def largest_power_of_two_below(n: int) -> int:
    """k such that k < n <= 2k (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """Hashes of all complete subtrees, grown by :meth:`extend`.

    One writer at a time (hold :attr:`lock`); readers need no lock: :attr:`size` only moves
    once every node of the grown tree exists, so a concurrent reader sees the old tree or the
    new one, never leaves without their parents.
    """

    def __init__(self) -> None:
        self.levels: list[bytearray] = [bytearray()]
        self.lock = threading.Lock()
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append leaf hashes in order and compute every parent they complete."""
        hashes = list(leaf_hashes)
        if any(len(h) != HASH_SIZE for h in hashes):  # one short hash would misalign every later node
            raise ValueError(f"every leaf hash must be {HASH_SIZE} bytes")
        level0 = self.levels[0]
        level0 += b"".join(hashes)
        # Complete every parent whose two children now exist, level by level.
        level = 0
        while True:
            below = self.levels[level]
            count = len(below) // HASH_SIZE
            if count < 2:
                break
            if level + 1 == len(self.levels):
                self.levels.append(bytearray())
            above = self.levels[level + 1]
            for i in range(len(above) // HASH_SIZE, count // 2):
                start = 2 * i * HASH_SIZE
                above += hashlib.sha256(b"\x01" + below[start : start + 2 * HASH_SIZE]).digest()
            level += 1
        self._size = len(level0) // HASH_SIZE  # publish only now that every parent exists

    def node(self, level: int, index: int) -> bytes:
        start = index * HASH_SIZE
        return bytes(self.levels[level][start : start + HASH_SIZE])

    def leaf(self, index: int) -> bytes:
        return self.node(0, index)

    def subtree_hash(self, start: int, n: int) -> bytes:
        """MTH(D[start:start+n]) for a subtree of the RFC's recursion (start is aligned)."""
        if n & (n - 1) == 0:  # perfect subtree: stored
            level = n.bit_length() - 1
            return self.node(level, start >> level)
        k = largest_power_of_two_below(n)
        return hash_children(self.subtree_hash(start, k), self.subtree_hash(start + k, n - k))

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if size > self.size:
            raise ValueError(f"tree has only {self.size} entries")
        return EMPTY_ROOT if size == 0 else self.subtree_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
        if not 0 <= index < size <= self.size:
            raise ValueError("need 0 <= index < tree_size <= current size")
        proof: list[bytes] = []
        start, n, m = 0, size, index
        while n > 1:
            k = largest_power_of_two_below(n)
            if m < k:
                proof.append(self.subtree_hash(start + k, n - k))
                n = k
            else:
                proof.append(self.subtree_hash(start, k))
                start, m, n = start + k, m - k, n - k
        proof.reverse()  # the RFC lists the deepest sibling first
        return proof

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
        if not 0 < first <= second <= self.size:
            raise ValueError("need 0 < first <= second <= current size")
        proof: list[bytes] = []
        start, n, m, whole = 0, second, first, True
        while m != n:
            k = largest_power_of_two_below(n)
            if m <= k:
                proof.append(self.subtree_hash(start + k, n - k))
                n = k
            else:
                proof.append(self.subtree_hash(start, k))
                start, m, n, whole = start + k, m - k, n - k, False
        if not whole:
            proof.append(self.subtree_hash(start, m))
        proof.reverse()
        return proof


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, step by step."""
    if index >= tree_size or index < 0:
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2, step by step (first == second: empty proof, equal roots)."""
    if first <= 0 or first > second:
        return False
    if first == second:
        return len(proof) == 0 and first_root == second_root
    path = list(proof)
    if not path:
        return False
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
