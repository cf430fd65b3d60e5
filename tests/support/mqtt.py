"""A real mosquitto for tests and benches: a free loopback port, a password file, an ACL, persistence
(so a restart keeps persistent sessions), and paho clients that collect what they receive."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"

# who may do what at our test broker: the bridge owns ohmpi/ and homeassistant/; `viewer` only reads;
# `ops` reads and may send commands; `guest` has an account but no rights at all.
USERS = {"bridge": "bridge-pw", "viewer": "viewer-pw", "ops": "ops-pw", "guest": "guest-pw"}
ACL = """
user bridge
topic readwrite ohmpi/#
topic readwrite homeassistant/#

user viewer
topic read ohmpi/#
topic read homeassistant/#

user ops
topic read ohmpi/#
topic read homeassistant/#
topic write ohmpi/+/cmd/#
topic write homeassistant/status
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def make_ca_and_server(directory: Path, name: str = "test") -> tuple[Path, Path, Path]:
    """A CA certificate and a server certificate for 127.0.0.1 signed by it: (ca, cert, key) files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / f"{name}-ca.crt", directory / f"{name}-server.crt", directory / f"{name}-server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths[2].chmod(0o600)
    return paths


class Broker:
    """mosquitto on 127.0.0.1:<free port> (and TLS on `tls_port`, its CA in `ca_file`), anonymous
    access off; restartable on the same ports."""

    def __init__(self, users: dict[str, str] = USERS, acl: str = ACL):
        self.dir = Path(tempfile.mkdtemp(prefix="mq-", dir="/tmp"))
        self.port, self.tls_port = _free_port(), _free_port()
        self.ca_file, cert, key = make_ca_and_server(self.dir)
        self.users = dict(users)
        passwd = self.dir / "passwd"
        passwd.touch(mode=0o600)
        for user, password in users.items():
            subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwd), user, password], check=True, capture_output=True)
        (self.dir / "acl").write_text(acl)
        (self.dir / "data").mkdir()
        run_as = "user root\n" if os.geteuid() == 0 else ""  # as root mosquitto would switch to `mosquitto`
        (self.dir / "mosquitto.conf").write_text(
            f"{run_as}allow_anonymous false\npassword_file {passwd}\n"
            f"acl_file {self.dir / 'acl'}\npersistence true\npersistence_location {self.dir / 'data'}/\n"
            f"autosave_interval 1\nmax_queued_messages 100000\nlog_dest file {self.dir / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type subscribe\n"
            f"listener {self.port} 127.0.0.1\n"
            f"listener {self.tls_port} 127.0.0.1\ncafile {self.ca_file}\ncertfile {cert}\nkeyfile {key}\n"
        )
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.dir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for port in (self.port, self.tls_port):
            _wait(lambda: self._accepts(port), 20, f"mosquitto on port {port}")

    def _accepts(self, port: int) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"mosquitto exited {self.proc.returncode}: {self.log()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its sessions and queued messages, then exits."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(20)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.dir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def password_file(self, user: str, directory: Path) -> Path:
        """A file holding `user`'s password (as [mqtt] password_file wants it)."""
        path = Path(directory) / f"{user}.mqtt-password"
        path.write_text(self.users[user] + "\n")
        path.chmod(0o600)
        return path

    def mqtt_table(self, directory: Path, **extra) -> str:
        """An `[mqtt]` table for the bridge at this broker (extra keys as TOML values)."""
        keys = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": "bridge",
            "password_file": str(self.password_file("bridge", directory)),
            **extra,
        }
        return "[mqtt]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())

    def client(
        self,
        user: str | None,
        topics=(),
        *,
        client_id: str | None = None,
        persistent: bool = False,
        password: str | None = None,
    ) -> "Collector":
        return Collector(self, user, topics, client_id=client_id, persistent=persistent, password=password)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Collector:
    """A paho client (MQTT 5) that records every message it receives, with its arrival time.

    `persistent`: a session that outlives disconnections (and broker restarts): QoS 1 messages
    published meanwhile are delivered when it is back."""

    def __init__(self, broker: Broker, user: str | None, topics=(), *, client_id=None, persistent=False, password=None):
        self.broker = broker
        self.topics = list(topics)
        self.persistent = persistent
        self.messages: list[tuple[str, bytes, bool, float]] = []  # topic, payload, retain, monotonic time
        self.lock = threading.Lock()
        self.connects = 0
        self.refused: list[str] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "", protocol=mqtt.MQTTv5)
        if user is not None:
            self.client.username_pw_set(user, password if password is not None else broker.users[user])
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.reconnect_delay_set(0.2, 1)
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        if persistent:
            props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", broker.port, clean_start=not persistent, properties=props)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            self.refused.append(str(reason))
            return
        self.connects += 1
        if self.topics and not (self.persistent and flags.session_present):
            client.subscribe([(t, 1) for t in self.topics])
        else:
            self.subscribed.set()

    def _on_message(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload, bool(message.retain), time.monotonic()))

    def wait_subscribed(self, timeout: float = 20) -> None:
        if not self.subscribed.wait(timeout):
            raise AssertionError(f"no SUBACK within {timeout} s (refused: {self.refused})")

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _, _ in self.messages if mqtt.topic_matches_sub(topic, t)]

    def json_on(self, topic: str) -> list:
        return [json.loads(p) for p in self.on(topic)]

    def wait_for(self, topic: str, predicate=lambda payloads: payloads, timeout: float = 30, what: str | None = None):
        """Wait until `predicate(payloads received on topic)` is truthy; return its value."""
        return _wait(lambda: predicate(self.on(topic)), timeout, what or f"messages on {topic}")

    def publish(self, topic: str, payload, qos: int = 1, retain: bool = False):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.publish(topic, data, qos=qos, retain=retain)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
