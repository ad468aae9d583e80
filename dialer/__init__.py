"""An asyncio predictive dialer for Asterisk (AMI) and FreeSWITCH (ESL)."""

__version__ = "0.1.0"
