"""moto server with two fixes that keep DynamoDB's semantics for the local cloud.

1. Every DynamoDB request is applied one at a time.

DynamoDB applies a conditional write, and a whole TransactWriteItems, atomically: of two
concurrent transactions whose conditions cannot both hold, one is cancelled. moto 5.2.5 serves
requests on threads and checks conditions, then writes, without a lock, so two concurrent
`stock >= :q` reservations (or two `attribute_not_exists` de-duplication markers) can both
pass. devstack starts moto through this wrapper so the local cloud keeps DynamoDB's semantics.
Only DynamoDB and its streams API are serialised: SQS long polls still run side by side.

2. A cancelled TransactWriteItems leaves the tables' streams as they were.

moto rolls a cancelled transaction back by putting deep copies of the tables back, stream
shard included. The writes it made before a condition failed stay as records in the OLD shard
object, which open shard iterators still read: a stream consumer would see INSERTs that never
happened (an outbox event of a cancelled transaction), and would never see later records,
which go to the copy. In DynamoDB a cancelled transaction writes nothing, to the table or its
stream. So the original shard is kept, trimmed back to its length before the transaction.

Usage: python serialized_moto.py [moto_server arguments], e.g. -H 127.0.0.1 -p 4566
"""

import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.server import main

_LOCK = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised_call_action(self):
    with _LOCK:
        return _call_action(self)


DynamoHandler.call_action = _serialised_call_action
# The streams API too, under the same lock: a TransactWriteItems writes its items (and their
# stream records) one by one and rolls back on a failed condition (fix 2 below); a GetRecords
# running beside it could read a record of a transaction that is then cancelled — an outbox
# event that never happened (seen as a phantom StockReserved confirming a rejected order).
_streams_call_action = DynamoDBStreamsHandler.call_action


def _serialised_streams_call_action(self):
    with _LOCK:
        return _streams_call_action(self)


DynamoDBStreamsHandler.call_action = _serialised_streams_call_action

_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items_keeping_streams(self, transact_items):
    shards = {
        name: (table.stream_shard, len(table.stream_shard.items))
        for name, table in self.tables.items()
        if table.stream_shard is not None
    }
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for name, (shard, length) in shards.items():
            table = self.tables.get(name)
            if table is not None:
                del shard.items[length:]
                table.stream_shard = shard
        raise


DynamoDBBackend.transact_write_items = _transact_write_items_keeping_streams

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
