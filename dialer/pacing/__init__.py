"""Pacing: how many calls to start now. Pure code, shared by the daemon and the simulator."""
