"""Call a command with nothing but pyzmq and msgpack (no project code), as docs/protocol.md says.

    python examples/plain_pyzmq_call.py ipc://var/bus hub ping
    OHMPI_KEY=keys/alice.key_secret python examples/plain_pyzmq_call.py tcp://HOST:5550 controller status

On tcp the bus speaks CurveZMQ: `$OHMPI_KEY` names your key file (made by `ohmpi keys create`),
with the hub's public key `server.key` beside it.
"""

import os
import sys
import time
import uuid

import msgpack
import zmq
import zmq.auth

address, service, cmd = sys.argv[1:4]
args = dict(arg.split("=", 1) for arg in sys.argv[4:])  # values stay strings in this tiny example

if address.startswith("tcp://"):
    command_endpoint = address  # commands on PORT, publish on PORT+1, subscribe on PORT+2
else:
    command_endpoint = address + ".cmd"  # ipc://PATH -> ipc://PATH.cmd

request_id = uuid.uuid4().hex
envelope = {
    "v": 1,  # protocol version
    "id": f"{uuid.uuid4().hex[:12]}-1",  # unique message id: <instance>-<counter>
    "src": "plain-client",  # who sends it
    "seq": 1,  # per (source, topic) sequence number, from 1
    "ts": time.time(),  # UTC seconds since the epoch
    "type": "request",
    "body": {"id": request_id, "cmd": cmd, "args": args},
}

ctx = zmq.Context()
sock = ctx.socket(zmq.REQ)
sock.setsockopt(zmq.LINGER, 0)
if address.startswith("tcp://"):  # CurveZMQ: our keypair, and the hub's public key to check who answers
    key_file = os.environ["OHMPI_KEY"]
    sock.curve_publickey, sock.curve_secretkey = zmq.auth.load_certificate(key_file)
    sock.curve_serverkey, _ = zmq.auth.load_certificate(os.path.join(os.path.dirname(key_file), "server.key"))
sock.connect(command_endpoint)
sock.send_multipart([service.encode(), msgpack.packb(envelope)])
if not sock.poll(5000):  # never wait forever: a REQ socket with a lost reply is stuck, so drop it
    sys.exit(f"no reply within 5 s from {command_endpoint}")
reply = msgpack.unpackb(sock.recv_multipart()[-1])["body"]
if reply["ok"]:
    print(reply["result"])
else:
    err = reply["error"]
    sys.exit(f"{err['code']}: {err['message']}")
