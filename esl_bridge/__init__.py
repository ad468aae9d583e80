"""FreeSWITCH adapter: implements `dialer.pbx.Pbx` over the Event Socket (ESL), asyncio only.

`codec` is the pure sans-IO framing, `translate` the pure mapping of FreeSWITCH events to
`dialer.pbx` events, `commands` the pure API command text, `client` the asyncio stream client.
No ESL library is used: greenswitch is gevent-based and does not belong in an asyncio daemon's
event loop, and the protocol is small enough for a codec of our own (as Otoru/Genesis does).
"""
