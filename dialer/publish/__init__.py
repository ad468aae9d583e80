"""Events to the outside world over MQTT (topic scheme and payloads: README.md here).

`messages` is pure (topics and JSON payloads); `mqtt` holds the publisher and
`start_publisher`, which the composition root calls.
"""
