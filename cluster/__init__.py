"""The cluster core: one router for all nodes, pure and synchronous.

The router lease with its fencing token (``Lease``, ``Fence``), node
membership from heartbeats (``Membership``), offer ids that name their
router (``OfferIds``), the log's value codec (``encode``/``decode``), and a
seeded simulator of the whole protocol (``python -m cluster.sim``). The
Redis shell is ``gateway/cluster.py``. See docs/operations.md.
"""

from cluster.codec import decode, encode
from cluster.errors import ClusterError, DecodeError, IllegalTransition
from cluster.lease import Fence, Grant, Lease, LeaseEvent, LeaseState
from cluster.membership import Member, Membership
from cluster.offers import OfferIds

__all__ = [
    "ClusterError",
    "DecodeError",
    "Fence",
    "Grant",
    "IllegalTransition",
    "Lease",
    "LeaseEvent",
    "LeaseState",
    "Member",
    "Membership",
    "OfferIds",
    "decode",
    "encode",
]
