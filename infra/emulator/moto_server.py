"""conversa's launcher for the moto server (pinned in requirements.txt).
1) Global lock around every DynamoDB request -> conditional writes / transactions become race-safe
   (stock moto has no locking: UpdateItem and TransactWriteItems races were observed).
   Other services (e.g. SQS long-poll WaitTimeSeconds) stay concurrent.
   MOTO_SERIALIZE_ALL=1 serialises every request instead (SQS long polls then block everything).
2) Fake clock: moto's time comes from moto.core.utils.utcnow() (used by unix_time/unix_time_millis,
   i.e. SQS visibility, DelaySeconds, FIFO 5-min dedup window, events time). Endpoints:
     POST /_test/time/advance?seconds=N   (cumulative, may be negative)
     POST /_test/time/reset
     GET  /_test/time                     -> {"offset_seconds": ...}
3) Call counter: GET /_test/calls -> {"DynamoDB_20120810.GetItem": n, ...}; POST /_test/calls/reset
   (also resets GET /_test/ok, the calls that succeeded). GET /_test/cpu: CPU seconds per
   operation; GET /_test/holdings: items, stream records and queue messages held (`make load`).
4) Fault rules: POST /_test/faults with {"service": "dynamodb"|"sqs"|"events"|"scheduler"|"ssm",
   "operation"?: "TransactWriteItems", "error"?: "ThrottlingException", "status"?: 400,
   "probability"?: 0.05, "nth"?: 3, "times"?: 1, "resource"?: "<text the request names>",
   "after"?: true}  (service "any" matches every call; "after" applies the call, then answers
   the error: a crash right after a successful call, as the caller sees it)
   -> {"id": n}; GET /_test/faults lists rules with how often each fired; DELETE /_test/faults
   (?resource=... only those) clears. A matching call is answered with the error instead of
   running; `resource` (e.g. a stack name) keeps a rule to one test's tables and queues.
6) SQS sends and receives read the queue's settings without counting its messages (stock
   moto counts the whole queue per sent and per received message; GetQueueAttributes still
   counts); werkzeug's per-request log lines are off.
5) Transactions undo item by item: stock moto deep-copies every table a TransactWriteItems
   touches (with its stream) to roll back, so each transaction costs the size of the table
   and tests slow down as the shared emulator fills. Here only the touched items (and the
   stream's length) are saved and restored; the outcome is the same.
7) Under load (`make load`, docs/performance.md): a request's backend is looked up once per
   host; EventBridge parses each JSONPath once; a table Query reads its partition, not the
   table; stream records every reader has read are dropped and shard iterators live 15
   minutes; GetRecords answers in plain JSON; SQS receives on one queue hand out FIFO groups
   one receive at a time (several pollers per queue) and wait without spinning; deleted
   receipt handles are kept for the last 50,000.
Usage: venv/bin/python serialized_moto_server.py [-H 127.0.0.1] [-p 5055]"""
import argparse, datetime, json, os, random, threading, time
from urllib.parse import parse_qs
from werkzeug.serving import make_server
import moto.core.utils as mcu
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.moto_server.threaded_moto_server import MotoRequestHandler

_LOCK = threading.RLock()  # re-entered by GetRecords under MOTO_SERIALIZE_ALL
_CALLS = {}
_OK = {}  # successful calls per API operation (GET /_test/ok): `make load` counts what was applied
_CPU = {}  # CPU seconds per API operation (GET /_test/cpu): where the emulator's time goes
_CALLS_LOCK = threading.Lock()
_ALL = os.environ.get("MOTO_SERIALIZE_ALL") == "1"
_OFFSET = [0.0]
_real_utcnow = mcu.utcnow
def _fake_utcnow():
    return _real_utcnow() + datetime.timedelta(seconds=_OFFSET[0])
mcu.utcnow = _fake_utcnow  # unix_time() looks up utcnow in the module globals at call time

_FAULTS = []  # rules, in the order they were added
_FAULTS_LOCK = threading.Lock()
_SERVICES = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs", "AWSEvents": "events",
             "AmazonSSM": "ssm"}
_SERVER_ERRORS = {"InternalServerError", "InternalFailure", "ServiceUnavailable",
                  "InternalServerException", "ServiceUnavailableException"}

def _service_operation(environ):
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target and "." in target:
        prefix, operation = target.split(".", 1)
        return _SERVICES.get(prefix, prefix.lower()), operation
    path = environ.get("PATH_INFO", "")
    if path.startswith("/schedules") or path.startswith("/schedule-groups"):
        method = environ.get("REQUEST_METHOD", "GET")
        kind = "ScheduleGroup" if path.startswith("/schedule-groups") else "Schedule"
        verb = {"POST": "Create", "PUT": "Update", "DELETE": "Delete"}.get(method, "Get")
        if method == "GET" and path.rstrip("/") in ("/schedules", "/schedule-groups"):
            verb, kind = "List", kind + "s"
        return "scheduler", verb + kind
    return None, None

def _fault_for(environ, body):
    """The rule that fails this call, if any (counting the call against every rule it matches)."""
    service, operation = _service_operation(environ)
    if service is None:
        return None
    text = body.decode("utf-8", "replace") + environ.get("PATH_INFO", "")
    with _FAULTS_LOCK:
        for rule in _FAULTS:
            if rule["service"] not in ("any", service):
                continue
            if rule.get("operation") and rule["operation"] != operation:
                continue
            if rule.get("resource") and rule["resource"] not in text:
                continue
            rule["seen"] += 1
            times = rule.get("times")
            if times is not None and rule["fired"] >= times:
                continue
            if rule.get("nth") is not None:
                fire = rule["seen"] >= rule["nth"]
            else:
                fire = random.random() < rule.get("probability", 1.0)
            if fire:
                rule["fired"] += 1
                return rule
    return None

def _fault_response(rule, start_response):
    error = rule.get("error") or "ThrottlingException"
    status = rule.get("status") or (500 if error in _SERVER_ERRORS else 400)
    body = json.dumps({"__type": error, "message": "fault injected by the emulator"}).encode()
    start_response(f"{status} Fault", [("Content-Type", "application/x-amz-json-1.0"),
                                       ("x-amzn-ErrorType", error),
                                       ("x-amzn-query-error", f"{error};Sender"),
                                       ("Content-Length", str(len(body)))])
    return [body]

def _faults_endpoint(environ, start_response):
    method = environ.get("REQUEST_METHOD", "GET")
    status, out = "200 OK", None
    with _FAULTS_LOCK:
        if method == "POST":
            try:
                size = int(environ.get("CONTENT_LENGTH") or 0)
                rule = json.loads(environ["wsgi.input"].read(size) or b"{}")
                if not isinstance(rule, dict) or rule.get("service") not in (
                        "dynamodb", "sqs", "events", "scheduler", "ssm", "any"):
                    raise ValueError("service must be dynamodb, sqs, events, scheduler, ssm or any")
                probability = rule.get("probability")
                if probability is not None and not 0 <= float(probability) <= 1:
                    raise ValueError("probability must be 0 to 1")
                if rule.get("nth") is not None and int(rule["nth"]) < 1:
                    raise ValueError("nth counts from 1")
                if rule.get("nth") is not None and rule.get("times") is None:
                    rule["times"] = 1
                rule.update(id=len(_FAULTS) + 1, seen=0, fired=0)
                _FAULTS.append(rule)
                out = {"id": rule["id"]}
            except (ValueError, TypeError, KeyError) as e:
                status, out = "400 Bad Request", {"code": "invalid_fault", "message": str(e)}
        elif method == "DELETE":
            resource = parse_qs(environ.get("QUERY_STRING", "")).get("resource", [None])[0]
            _FAULTS[:] = [r for r in _FAULTS if resource and r.get("resource") != resource]
            out = {"rules": len(_FAULTS)}
        else:
            out = {"rules": _FAULTS}
        body = json.dumps(out).encode()
    start_response(status, [("Content-Type", "application/json")])
    return [body]

def _cheap_transactions():
    import copy as _copy
    import moto.dynamodb.models as ddb
    from moto.dynamodb.models.table import Table

    class _KeepTables:
        """moto's rollback copies whole tables; the undo below makes that unnecessary."""
        @staticmethod
        def deepcopy(value, memo=None):
            return value if isinstance(value, Table) else _copy.deepcopy(value, memo)

    ddb.copy = _KeepTables
    original = ddb.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        undo, streams = [], {}
        for entry in transact_items:
            try:
                _, op = next(iter(entry.items()))
                name = op.get("TableName")
                table = self.tables.get(name)
                if table is None:
                    continue
                if "Item" in op:
                    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = op["Item"][table.range_key_attr]
                else:
                    key = op["Key"]
                current = self.get_item(name, key)
            except Exception:
                continue  # moto itself will refuse this entry
            undo.append((name, key, current.to_json()["Attributes"] if current else None))
            if table.stream_shard is not None:
                streams.setdefault(name, (table, len(table.stream_shard.items)))
        try:
            return original(self, transact_items)
        except Exception:
            for name, key, attrs in reversed(undo):
                if attrs is None:
                    self.tables[name].delete_item(
                        *[ddb.DynamoType(key[k]) if k in key else None
                          for k in (self.tables[name].hash_key_attr, self.tables[name].range_key_attr)])
                else:
                    self.tables[name].put_item(attrs, overwrite=True)
            for table, length in streams.values():
                del table.stream_shard.items[length:]
            raise

    ddb.DynamoDBBackend.transact_write_items = transact_write_items

_cheap_transactions()

def _cheap_sqs_reads():
    # Stock moto checks each received message's retention by building every queue
    # attribute, which counts every message in the queue: a receive costs the queue's size
    # per message. Reading the one attribute gives the same answer.
    from moto.sqs import models as sqm
    from moto.core.utils import unix_time
    def is_message_valid_based_on_retention_period(self, queue_name, message):
        queue = self.get_queue(queue_name)
        retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
        return retain_until > unix_time()
    sqm.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period

_cheap_sqs_reads()

def _cheap_sqs_attributes():
    # Every send reads the queue's attributes for its deduplication setting, and stock
    # moto builds them all, counting every message of the queue: a send costs the queue's
    # size. Only GetQueueAttributes needs the counts; everything else gets the settings.
    from moto.sqs import models as sqm
    from moto.core.utils import camelcase_to_underscores
    full = sqm.Queue.attributes.fget
    counts = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
              "ApproximateNumberOfMessagesNotVisible"}
    wanted = threading.local()
    def attributes(self):
        if getattr(wanted, "counts", False):
            return full(self)
        result = {}
        names = [a for a in self.BASE_ATTRIBUTES if a not in counts]
        if self.fifo_queue:
            names += self.FIFO_ATTRIBUTES
        if self.kms_master_key_id:
            names += self.KMS_ATTRIBUTES
        for name in names:
            result[name] = getattr(self, camelcase_to_underscores(name))
        if self.policy:
            result["Policy"] = self.policy
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy)
        for key in result:
            if isinstance(result[key], bool):
                result[key] = str(result[key]).lower()
        return result
    sqm.Queue.attributes = property(attributes)
    get_queue_attributes = sqm.SQSBackend.get_queue_attributes
    def get_queue_attributes_with_counts(self, *args, **kwargs):
        wanted.counts = True
        try:
            return get_queue_attributes(self, *args, **kwargs)
        finally:
            wanted.counts = False
    sqm.SQSBackend.get_queue_attributes = get_queue_attributes_with_counts

_cheap_sqs_attributes()

def _cheap_routing():
    # moto finds each request's backend by listing its own package directory and trying
    # hundreds of URL patterns, under one lock, on every request. A host always maps to
    # the same backend: remember it.
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    find = DomainDispatcherApplication.get_backend_for_host
    known = {}
    def get_backend_for_host(self, host):
        if host is None or host == "moto_api":
            return find(self, host)
        if host not in known:
            known[host] = find(self, host)
        return known[host]
    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host

_cheap_routing()

def _cheap_event_targets():
    # EventBridge builds each target's input with JSONPath expressions, and jsonpath_ng
    # builds a new parser (its grammar tables) for every expression parsed: eight per
    # target per event, about 100 ms for a PutEvents of ten events. The expressions are
    # always the same few: parse each once.
    import functools
    import jsonpath_ng.ext
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)

_cheap_event_targets()

def _partition_queries():
    # A Query on the table (not an index) reads only the partition of its key; stock moto
    # walks every item of the table for it, so each query costs the size of the table.
    from moto.dynamodb.models.table import Table
    query = Table.query
    all_items = Table.all_items
    partition = threading.local()
    def partition_items(self):
        key = getattr(partition, "key", None)
        if key is None:
            return all_items(self)
        found = self.items.get(key)
        if found is None:
            return []
        return list(found.values()) if self.range_key_attr else [found]
    def query_partition(self, hash_key, *args, **kwargs):
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        partition.key = hash_key
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            partition.key = None
    Table.all_items = partition_items
    Table.query = query_partition

_partition_queries()

def _bounded_streams():
    # Stock moto keeps every stream record for good and every shard iterator it ever
    # handed out (a new one per GetRecords: five a second per idle poller). Here an
    # iterator lives 15 minutes, as in DynamoDB Streams, and a shard drops the records
    # before the first one an iterator points at that is unread or was read in the last
    # minute (a reader whose call failed reads it again): what every reader has read.
    # (A reader that comes later with TRIM_HORIZON starts there: DynamoDB would keep 24
    # hours.) GetRecords answers in plain JSON: moto's generic serializer walking every
    # attribute of every record cost more than the rest of the call.
    import base64, collections
    from moto.dynamodbstreams import models as dsm
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.dynamodb.models.table import StreamShard
    LIFETIME = 15 * 60
    REUSE = 60  # a reader that failed may read the same iterator again for this long
    def iterators(backend):
        # arn -> (iterator, when handed out, when read or None); oldest first
        return backend.__dict__.setdefault("_conversa_iterators", collections.OrderedDict())
    def expire(backend):
        its, now = iterators(backend), time.monotonic()
        while its:
            arn, (_, at, _) = next(iter(its.items()))
            if now - at < LIFETIME:
                break
            its.popitem(last=False)
    class Iterators(dict):
        # moto stores every iterator here; keep them in the bounded map instead.
        def __init__(self, backend):
            super().__init__()
            self.backend = backend
        def __setitem__(self, arn, iterator):
            expire(self.backend)
            iterators(self.backend)[arn] = (iterator, time.monotonic(), None)
        def __getitem__(self, arn):
            entry = iterators(self.backend).get(arn)
            if entry is None:
                raise KeyError(arn)
            return entry[0]
    init = dsm.DynamoDBStreamsBackend.__init__
    def backend_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.shard_iterators = Iterators(self)
    dsm.DynamoDBStreamsBackend.__init__ = backend_init

    def shard_get(self, start, quantity):
        # Reading before what was trimmed reads from the first record kept.
        begin = max(start - self.starting_sequence_number, 0)
        return [i.to_json() for i in self.items[begin:begin + quantity]]
    StreamShard.get = shard_get

    def trim(backend, shard):
        now = time.monotonic()
        pinned = [it.sequence_number for it, at, read in iterators(backend).values()
                  if it.stream_shard is shard and (not read or now - read < REUSE)]
        if not pinned:
            return
        drop = min(pinned) - shard.starting_sequence_number
        if drop > 0:
            del shard.items[:drop]
            shard.starting_sequence_number += drop

    def get_records(self, iterator_arn, limit):
        with _LOCK:  # the table's writers append to the shard under this lock
            entry = iterators(self).get(iterator_arn)
            if entry is None:
                raise KeyError(iterator_arn)
            iterator, at, _ = entry
            iterators(self)[iterator_arn] = (iterator, at, time.monotonic())
            result = iterator.get(limit)
            trim(self, iterator.stream_shard)
            return result
    dsm.DynamoDBStreamsBackend.get_records = get_records

    def seconds(value):
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.timezone.utc)
            return value.timestamp()
        raise TypeError(type(value))
    def get_records_response(self):
        arn = self._get_param("ShardIterator")
        limit = self._get_param("Limit") or 1000
        return json.dumps(self.backend.get_records(arn, limit), default=seconds)
    DynamoDBStreamsHandler.get_records = get_records_response

_bounded_streams()

def _concurrent_receives():
    # Several pollers may receive from one queue at once (Lambda runs several per event
    # source). Stock moto's receive decides which FIFO groups are free without a lock, so
    # two receives could hand out the same group; and its long poll spins, holding the
    # interpreter, while every visible message belongs to a group in flight. Here each
    # queue's receives pick their messages one at a time, and a receive with nothing to
    # take sleeps until a message arrives or is deleted (or 200 ms, for visibility
    # timeouts and delays running out).
    from moto.sqs import models as sqm
    receive = sqm.SQSBackend.receive_message
    delete = sqm.Queue.delete_message
    def lock_of(queue):
        return queue.__dict__.setdefault("_conversa_receive_lock", threading.Lock())
    def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout,
                        message_attribute_names=None):
        queue = self.get_queue(queue_name)
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with lock_of(queue):
                result = receive(self, queue_name, count, 0, visibility_timeout,
                                 message_attribute_names)
            left = deadline - time.monotonic()
            if result or left <= 0:
                return result
            with queue._messages_lock:
                queue._messages_lock.wait(min(left, 0.2))
    def delete_message(self, receipt_handle):
        # The message is nearly always one in flight: look there first, not through every
        # message of the queue (stock moto builds each one's list of receipt handles).
        found = None
        for m in list(self._pending_messages):
            if m.receipt_handle == receipt_handle or receipt_handle in m._old_receipt_handles:
                found = m
                break
        if found is None or receipt_handle in self.deleted_messages:
            delete(self, receipt_handle)
        else:
            self._pending_messages.discard(found)
            self.deleted_messages.update(found.all_receipt_handles)
            try:
                self._messages.remove(found)
            except ValueError:
                pass
        with self._messages_lock:
            self._messages_lock.notify_all()  # its group may be free for a waiting receive
    def visible_messages(self):
        # Stock moto reads the (fake) clock twice per message of the queue, each receive.
        now = sqm.unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]
    sqm.Queue.messages = property(visible_messages)
    sqm.SQSBackend.receive_message = receive_message
    sqm.Queue.delete_message = delete_message

    class Recent:
        """The receipt handles of deleted messages (a repeated delete succeeds), the last
        50,000: stock moto keeps every one for good, 185 characters each."""
        def __init__(self, keep=50_000):
            self.keep, self.handles = keep, {}
        def __contains__(self, handle):
            return handle in self.handles
        def __len__(self):
            return len(self.handles)
        def update(self, handles):
            for h in handles:
                self.handles[h] = None
            while len(self.handles) > self.keep:
                del self.handles[next(iter(self.handles))]
    init = sqm.Queue.__init__
    def queue_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.deleted_messages = Recent()
    sqm.Queue.__init__ = queue_init

_concurrent_receives()

def _holdings():
    """What the emulator holds (GET /_test/holdings): where its memory goes under load."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodbstreams.models import dynamodbstreams_backends
    from moto.sqs.models import sqs_backends
    out = {"tables": {}, "queues": {}, "shard_iterators": 0}
    with _LOCK:
        for account, regions in dynamodb_backends.items():
            for region, backend in regions.items():
                for name, table in backend.tables.items():
                    items = sum(len(p) if table.range_key_attr else 1 for p in table.items.values())
                    shard = table.stream_shard
                    out["tables"][name] = {"items": items,
                                           "stream_records": len(shard.items) if shard else 0}
        for account, regions in dynamodbstreams_backends.items():
            for region, backend in regions.items():
                out["shard_iterators"] += len(backend.__dict__.get("_conversa_iterators", ()))
        for account, regions in sqs_backends.items():
            for region, backend in regions.items():
                for name, queue in backend.queues.items():
                    out["queues"][name] = {"messages": len(queue._messages),
                                           "deleted_receipts": len(queue.deleted_messages)}
    return out

def _counting_ok(target, start_response):
    def counted(status, headers, exc_info=None):
        if status.startswith("2"):
            with _CALLS_LOCK:
                _OK[target] = _OK.get(target, 0) + 1
        return start_response(status, headers, exc_info)
    return counted

class Middleware:
    def __init__(self, app):
        self.app = app
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_test/time"):
            qs = parse_qs(environ.get("QUERY_STRING", ""))
            if path.endswith("/advance"):
                _OFFSET[0] += float(qs.get("seconds", ["0"])[0])
            elif path.endswith("/reset"):
                _OFFSET[0] = 0.0
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"offset_seconds": _OFFSET[0]}).encode()]
        if path.startswith("/_test/holdings"):
            body = json.dumps(_holdings()).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if path.startswith("/_test/ok") or path.startswith("/_test/cpu"):
            with _CALLS_LOCK:
                body = json.dumps(_OK if path.startswith("/_test/ok") else _CPU).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if path.startswith("/_test/calls"):
            with _CALLS_LOCK:
                if path.endswith("/reset"):
                    _CALLS.clear()
                    _OK.clear()
                body = json.dumps(_CALLS).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if path.startswith("/_test/faults"):
            return _faults_endpoint(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if _FAULTS:
            import io
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size) if size else b""
            environ["wsgi.input"] = io.BytesIO(body)
            rule = _fault_for(environ, body)
            if rule is not None:
                if target:
                    with _CALLS_LOCK:
                        _CALLS[target] = _CALLS.get(target, 0) + 1
                if rule.get("after"):
                    # The call takes effect, then the caller is told it failed: what a
                    # crash right after a successful call looks like to the caller.
                    def discard(status, headers, exc_info=None):
                        return lambda data: None
                    if _ALL or target.startswith("DynamoDB_") or path.startswith("/moto-api"):
                        with _LOCK:
                            list(self.app(environ, discard))
                    else:
                        list(self.app(environ, discard))
                return _fault_response(rule, start_response)
        if target:
            # Calls per API operation, for the tests that count AWS calls per event.
            with _CALLS_LOCK:
                _CALLS[target] = _CALLS.get(target, 0) + 1
            start_response = _counting_ok(target, start_response)
        started = time.thread_time()
        try:
            if _ALL or target.startswith("DynamoDB_") or path.startswith("/moto-api"):
                with _LOCK:
                    return list(self.app(environ, start_response))  # fully run handler inside the lock
            return list(self.app(environ, start_response))
        finally:
            used = time.thread_time() - started
            key = target or "%s.%s" % _service_operation(environ)
            with _CALLS_LOCK:
                _CPU[key] = _CPU.get(key, 0.0) + used

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, default=5055)
    p.add_argument("--parent-pid", type=int, default=0,
                   help="exit when this process is gone (tests leave no orphan emulator)")
    p.add_argument("--port-file", default="",
                   help="once listening, write the port here (with -p 0: any free port)")
    a = p.parse_args()
    if a.parent_pid:
        import time
        def _watch(pid=a.parent_pid):
            while True:
                try:
                    os.kill(pid, 0)
                except OSError:
                    os._exit(0)
                time.sleep(1)
        threading.Thread(target=_watch, daemon=True).start()
    os.environ.setdefault("MOTO_PORT", str(a.port))
    # One log line per request cost an eighth of the emulator's time in the soaks.
    import logging
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    # Bound here (with -p 0, on any free port the kernel picks) and then reported through
    # --port-file: a port chosen by the owner and bound here a second later could be taken
    # meanwhile by another emulator, which both owners would then share until the first
    # one's owner stopped it under the other (a test failed on exactly that).
    srv = make_server(a.host, a.port, Middleware(app), threaded=True,
                      request_handler=MotoRequestHandler)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(srv.server_port))
        os.replace(tmp, a.port_file)  # the owner never reads half a number
    srv.serve_forever()
