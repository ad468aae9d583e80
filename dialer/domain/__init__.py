"""Pure domain logic: no asyncio, sockets, SQLAlchemy or MQTT in here."""
