"""Watch events with nothing but pyzmq and msgpack (no project code), as docs/protocol.md says.

    python examples/plain_pyzmq_watch.py ipc://var/bus soh.     # a topic prefix
    OHMPI_KEY=keys/alice.key_secret python examples/plain_pyzmq_watch.py tcp://HOST:5550 data.

On tcp the bus speaks CurveZMQ: `$OHMPI_KEY` names your key file, `server.key` lies beside it.
"""

import os
import sys

import msgpack
import zmq
import zmq.auth

address, prefix = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
count = int(sys.argv[3]) if len(sys.argv) > 3 else 0
if address.startswith("tcp://"):
    host, port = address.rsplit(":", 1)
    subscribe_endpoint = f"{host}:{int(port) + 2}"
else:
    subscribe_endpoint = address + ".sub"

ctx = zmq.Context()
sock = ctx.socket(zmq.SUB)
if address.startswith("tcp://"):  # CurveZMQ: our keypair, and the hub's public key
    key_file = os.environ["OHMPI_KEY"]
    sock.curve_publickey, sock.curve_secretkey = zmq.auth.load_certificate(key_file)
    sock.curve_serverkey, _ = zmq.auth.load_certificate(os.path.join(os.path.dirname(key_file), "server.key"))
sock.connect(subscribe_endpoint)
sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())  # ZeroMQ filters by byte prefix
seen = 0
while not count or seen < count:
    topic, data = sock.recv_multipart()
    env = msgpack.unpackb(data)
    print(topic.decode(), env["src"], env["seq"], env["body"], flush=True)
    seen += 1
