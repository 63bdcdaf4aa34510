"""The two rankers. Both are built in memory from the catalogue table and rebuilt when it
changes (the catalogue is small; the index is derived data, so the schema holds no copy of it).

- ``Fts5Ranker``: SQLite FTS5 (in the standard library's SQLite), BM25 with column weights,
  ``unicode61 remove_diacritics 2`` over the pre-stemmed terms. The default on SQLite.
- ``Bm25Ranker``: BM25F-style in pure Python (per-field weighted term frequency, one length
  normalisation), for PostgreSQL deployments.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections import Counter, defaultdict

from dpistack.services.interfaces import FIELDS, WEIGHTS

Doc = tuple[str, str, dict[str, list[str]]]  # service id, language, field -> terms


class Fts5Ranker:
    name = "fts5"

    def __init__(self, docs: list[Doc]):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        cols = ", ".join(FIELDS)
        self._db.execute(f"CREATE VIRTUAL TABLE idx USING fts5(sid UNINDEXED, lang UNINDEXED, {cols}, "
                         "tokenize = 'unicode61 remove_diacritics 2')")
        self._db.executemany(f"INSERT INTO idx (sid, lang, {cols}) VALUES (?, ?, {', '.join('?' * len(FIELDS))})",
                             [(sid, lang, *(" ".join(fields.get(f, [])) for f in FIELDS)) for sid, lang, fields in docs])
        self._weights = ", ".join(str(WEIGHTS[f]) for f in FIELDS)

    def rank(self, query: list[str], langs: tuple[str, ...] | None, limit: int) -> list[tuple[str, str, float]]:
        words = sorted({t for t in query if t.replace("_", "").isalnum()})
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)  # terms are \w+ only: nothing to escape
        sql = f"SELECT sid, lang, bm25(idx, 0, 0, {self._weights}) AS s FROM idx WHERE idx MATCH ?"
        args: list = [match]
        if langs:
            sql += f" AND lang IN ({', '.join('?' * len(langs))})"
            args += list(langs)
        sql += " ORDER BY s LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, [*args, limit]).fetchall()
        return [(sid, lang, -score) for sid, lang, score in rows]


class Bm25Ranker:
    name = "bm25"
    k1, b = 1.2, 0.75

    def __init__(self, docs: list[Doc]):
        self._docs = []  # (sid, lang, weighted tf, weighted length)
        postings: dict[str, list[int]] = defaultdict(list)
        for i, (sid, lang, fields) in enumerate(docs):
            tf: Counter = Counter()
            for field in FIELDS:
                for term in fields.get(field, []):
                    tf[term] += WEIGHTS[field]
            self._docs.append((sid, lang, tf, sum(tf.values())))
            for term in tf:
                postings[term].append(i)
        n = len(docs) or 1
        self._avg = sum(d[3] for d in self._docs) / n or 1.0
        self._postings = dict(postings)
        # Lucene's non-negative idf; FTS5's differs only for terms in over half the documents.
        self._idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in postings.items()}

    def rank(self, query: list[str], langs: tuple[str, ...] | None, limit: int) -> list[tuple[str, str, float]]:
        scores: dict[int, float] = defaultdict(float)
        for term in set(query):
            for i in self._postings.get(term, ()):
                sid, lang, tf, length = self._docs[i]
                if langs and lang not in langs:
                    continue
                f = tf[term]
                scores[i] += self._idf[term] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * length / self._avg))
        best = sorted(scores.items(), key=lambda kv: (-kv[1], self._docs[kv[0]][0]))[:limit]
        return [(self._docs[i][0], self._docs[i][1], s) for i, s in best]


def fts5_available() -> bool:
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        return True
    except sqlite3.OperationalError:
        return False
