"""The Merkle tree against the RFC's own recursive definitions and against pymerkle."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpistack.transparency.merkle import EMPTY_ROOT, MerkleTree, hash_leaf, verify_consistency, verify_inclusion

from . import naive

LEAVES = [f"entry-{i}".encode() for i in range(70)]


def grown(n: int) -> MerkleTree:
    t = MerkleTree()
    t.extend(hash_leaf(x) for x in LEAVES[:n])
    return t


def test_roots_and_proofs_match_the_rfc_definitions_for_every_size_and_index():
    tree = MerkleTree()
    for n in range(1, len(LEAVES) + 1):
        tree.extend([hash_leaf(LEAVES[n - 1])])  # grow one by one: incremental == from scratch
        leaves = LEAVES[:n]
        root = naive.mth(leaves)
        assert tree.root(n) == root
        for m in range(n):
            expected = naive.path(m, leaves)
            assert tree.inclusion_proof(m, n) == expected, (m, n)
            assert verify_inclusion(hash_leaf(leaves[m]), m, n, expected, root)
        for m in range(1, n + 1):
            expected = naive.proof(m, leaves)
            assert tree.consistency_proof(m, n) == expected, (m, n)
            assert verify_consistency(m, n, naive.mth(leaves[:m]), root, expected)
    assert MerkleTree().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_tampered_proofs_and_roots_are_rejected():
    tree = grown(37)
    root = tree.root()
    proof = tree.inclusion_proof(12, 37)
    leaf = hash_leaf(LEAVES[12])
    assert verify_inclusion(leaf, 12, 37, proof, root)
    assert not verify_inclusion(leaf, 13, 37, proof, root)  # wrong index
    assert not verify_inclusion(hash_leaf(b"forged"), 12, 37, proof, root)
    assert not verify_inclusion(leaf, 12, 37, proof[:-1], root)  # truncated
    assert not verify_inclusion(leaf, 12, 37, proof + [root], root)  # padded
    flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:]] + proof[1:]
    assert not verify_inclusion(leaf, 12, 37, flipped, root)
    assert not verify_inclusion(leaf, 37, 37, proof, root)

    cproof = tree.consistency_proof(10, 37)
    old = tree.root(10)
    assert verify_consistency(10, 37, old, root, cproof)
    assert not verify_consistency(10, 37, naive.mth(LEAVES[:9] + [b"rewritten"]), root, cproof)
    assert not verify_consistency(10, 37, old, hashlib.sha256(b"x").digest(), cproof)
    assert not verify_consistency(10, 37, old, root, cproof[1:])
    assert not verify_consistency(10, 37, old, root, [])
    assert not verify_consistency(0, 37, old, root, cproof)
    assert not verify_consistency(38, 37, old, root, cproof)
    assert verify_consistency(37, 37, root, root, [])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=300), st.data())
def test_random_logs_prove_inclusion_and_consistency(entries, data):
    tree = MerkleTree()
    tree.extend(hash_leaf(e) for e in entries)
    n = len(entries)
    m = data.draw(st.integers(0, n - 1))
    assert verify_inclusion(hash_leaf(entries[m]), m, n, tree.inclusion_proof(m, n), naive.mth(entries))
    first = data.draw(st.integers(1, n))
    assert tree.consistency_proof(first, n) == naive.proof(first, entries)


def test_pymerkle_agrees_on_roots_and_inclusion_proofs():
    import pymerkle

    # pymerkle (security mode, the default) hashes as RFC 9162: 0x00 leaves, 0x01 nodes.
    reference = pymerkle.InmemoryTree(algorithm="sha256")
    ours = MerkleTree()
    for entry in LEAVES[:45]:
        reference.append_entry(entry)
    ours.extend(hash_leaf(e) for e in LEAVES[:45])
    for size in (1, 2, 3, 8, 20, 33, 45):
        assert reference.get_root(size) == ours.root(size), size
    for index in (0, 6, 31, 44):
        proof = reference.prove_inclusion(index + 1, 45)  # pymerkle counts leaves from 1
        # Its path is [leaf hash] + the RFC 9162 audit path.
        assert proof.path[0] == hash_leaf(LEAVES[index])
        assert proof.path[1:] == ours.inclusion_proof(index, 45)
        pymerkle.verify_inclusion(hash_leaf(LEAVES[index]), ours.root(45), proof)
    # Its consistency proofs use another layout; check that it accepts our roots.
    pymerkle.verify_consistency(ours.root(20), ours.root(45), reference.prove_consistency(20, 45))


def test_readers_during_an_extend_see_the_previous_complete_tree():
    # The server extends the tree while other threads sign checkpoints and serve proofs: a
    # reader must never see a size whose parent nodes are not computed yet.
    tree = grown(5)
    before = tree.root()
    seen = []

    def leaves():
        for entry in LEAVES[5:40]:
            seen.append((tree.size, tree.root(tree.size)))
            yield hash_leaf(entry)

    tree.extend(leaves())
    assert seen and all(s == (5, before) for s in seen)
    assert tree.size == 40 and tree.root() == naive.mth(LEAVES[:40])


def test_a_hash_of_the_wrong_length_is_refused_and_changes_nothing():
    tree = grown(9)
    root = tree.root()
    with pytest.raises(ValueError):
        tree.extend([hash_leaf(b"fine"), b"short"])
    assert tree.size == 9 and tree.root() == root
    tree.extend([hash_leaf(LEAVES[9])])
    assert tree.root() == naive.mth(LEAVES[:10])
