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
Usage: venv/bin/python serialized_moto_server.py [-H 127.0.0.1] [-p 5055]"""
import argparse, datetime, json, os, threading
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
        target = environ.get("HTTP_X_AMZ_TARGET", "")
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
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(a.host, a.port, Middleware(app), threaded=True, request_handler=MotoRequestHandler)
