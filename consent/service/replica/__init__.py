"""Reads from a streaming replica (`DATABASE_REPLICA_URL`), never from before a write this process knows of."""

from consent.service.replica.reads import Reads, Replica
from consent.service.replica.watch import ReplicaState

__all__ = ["Reads", "Replica", "ReplicaState"]
