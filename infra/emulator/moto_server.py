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
Usage: venv/bin/python serialized_moto_server.py [-H 127.0.0.1] [-p 5055]"""
import argparse, datetime, json, os, random, threading
from urllib.parse import parse_qs
from werkzeug.serving import run_simple
import moto.core.utils as mcu
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.moto_server.threaded_moto_server import MotoRequestHandler

_LOCK = threading.Lock()
_CALLS = {}
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
        if path.startswith("/_test/calls"):
            with _CALLS_LOCK:
                if path.endswith("/reset"):
                    _CALLS.clear()
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
        if _ALL or target.startswith("DynamoDB_") or path.startswith("/moto-api"):
            with _LOCK:
                return list(self.app(environ, start_response))  # fully run handler inside the lock
        return self.app(environ, start_response)

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("-H", "--host", default="127.0.0.1")
    p.add_argument("-p", "--port", type=int, default=5055)
    p.add_argument("--parent-pid", type=int, default=0,
                   help="exit when this process is gone (tests leave no orphan emulator)")
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
    run_simple(a.host, a.port, Middleware(app), threaded=True, request_handler=MotoRequestHandler)
