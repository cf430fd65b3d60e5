"""The MQTT bridge's domain: settings, topic and payload mapping, Home Assistant discovery, the
durable queue and the command parser. No bus and no network here (workers/mqtt.py wires them)."""
