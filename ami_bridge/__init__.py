"""Asterisk adapter: implements `dialer.pbx.Pbx` over AMI with panoramisk."""
