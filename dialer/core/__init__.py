"""The dialer's pure core: campaigns, calls and agents as one synchronous state machine
(`Core.handle(input, now) -> commands`), with no I/O and no clock of its own. The daemon's
driver (`dialer.engine`) and the tests run it; see `dialer.core.machine`."""
