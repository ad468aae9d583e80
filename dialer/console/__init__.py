"""The web console for agents and supervisors, served by the daemon's HTTP API under /console.

Pure parts: passwords (Argon2 hashes), sessions (cookies, CSRF tokens, idle expiry), the
sign-in throttle, and what the agent's screen shows (screen.py). The routes are in
dialer/api/console.py and dialer/api/agent_screen.py; the page itself is static/ (plain HTML,
CSS and JavaScript, no build step, nothing from a CDN).
"""
