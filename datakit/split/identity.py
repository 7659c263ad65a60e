"""What makes records the same: conversation digests, group digests, and the clusters they join.

A conversation's identity is a digest of its messages with every string in each message's
``content`` whitespace-normalized; rows sharing a ``group_key`` value are joined too, and
duplicates and groups join transitively into clusters (connected components).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

# Distinct personalisations keep conversation digests, group digests and rank hashes in
# separate domains, so a group value can never collide with a conversation by construction.
CONVERSATION_PERSON = b"datakit-conv"
GROUP_PERSON = b"datakit-group"
RANK_PERSON = b"datakit-rank"


def _normalize_text(value: Any) -> Any:
    # Whitespace variants of one conversation must count as the same conversation.
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        return [_normalize_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize_text(v) for k, v in value.items()}
    return value


def digest(data: bytes, person: bytes, key: bytes = b"") -> int:
    return int.from_bytes(
        hashlib.blake2b(data, digest_size=8, key=key, person=person).digest(), "little"
    )


def canonical(value: Any) -> bytes:
    # surrogatepass: JSON escapes may decode to lone surrogates, which strict UTF-8 rejects.
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


def conversation_digest(messages: list[dict]) -> int:
    """64-bit identity of a conversation: its messages with content whitespace-normalized."""
    normalized = []
    for message in messages:
        if "content" in message:
            message = {**message, "content": _normalize_text(message["content"])}
        normalized.append(message)
    return digest(canonical(normalized), CONVERSATION_PERSON)


def clusters(
    content: np.ndarray, group: np.ndarray | None, has_group: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cluster valid rows: (content id per row, cluster per content id, cluster keys, first row
    of each content id).

    Cluster keys are the smallest member digest (conversation or group), which depends only on
    the set of members, never on their order.
    """
    digests, first_row, content_id = np.unique(content, return_index=True, return_inverse=True)
    n_content = len(digests)
    if group is None or has_group is None or not has_group.any():
        return content_id, np.arange(n_content), digests, first_row

    group_digests, group_id = np.unique(group[has_group], return_inverse=True)
    n_group = len(group_digests)
    # Every distinct (conversation, group) pair is an edge of a bipartite graph; its connected
    # components are the clusters. Union-find over unique edges, nodes = contents then groups.
    pair = content_id[has_group].astype(np.int64) * n_group + group_id
    pairs = np.unique(pair)
    parent = list(range(n_content + n_group))

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for c, g in zip((pairs // n_group).tolist(), (pairs % n_group).tolist()):
        a, b = find(c), find(n_content + g)
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots = np.fromiter((find(x) for x in range(n_content + n_group)), dtype=np.int64,
                        count=n_content + n_group)
    _, label = np.unique(roots, return_inverse=True)
    keys = np.full(label.max() + 1, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(keys, label, np.concatenate([digests, group_digests]))
    return content_id, label[:n_content], keys, first_row


