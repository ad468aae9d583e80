"""Speech the rig's SIPp user agents play to Asterisk: the carrier's callees, for
answering-machine detection (AMD) and to keep answered calls' media flowing, and the agents'
headsets.

Made on the machine with espeak-ng and sox into `.rig/audio/` the first time SIPp starts (nothing
binary is committed), and reused afterwards. Three clips:

    hello     "Hello?", sounding from 0.31 s to 0.74 s, then 20 s of silence: a person picking
              up (rig Behaviour.AMD_HUMAN, and every other answered trunk call)
    greeting  a voicemail greeting sounding from 0.31 s to 8.55 s, a 0.5 s 1 kHz beep ending
              at 9.87 s, then 20 s of silence: an answering machine (Behaviour.AMD_MACHINE)
    agent     an agent's few words, then 5 s of silence: what every headset says

(times from the first RTP packet, which SIPp sends right after Asterisk's ACK of the answer;
`Rendered` gives them for the files actually made.)

The clips loop for the whole call (`FOREVER`): Asterisk hangs up a channel that has received no
RTP for its endpoint's rtp_timeout (deploy/asterisk/pjsip.conf: 60 s on the trunk, 120 s on
agents), so a UA that falls silent on the wire loses its call. A clip's trailing silence is what
AMD() hears after the speech; the next loop starts long after AMD has decided.

The files are raw 8 kHz mu-law (G.711 payload type 0), not WAV: SIPp's `rtp_stream` sends a
file's bytes as they are, so a WAV header would go out as 7 ms of noise. Their length is a whole
number of 20 ms packets, because SIPp fills a short last packet from the start of the file (the
speech) again. The trailing silence is real audio (0xFF bytes): AMD() counts only silence it
hears (no frames is neither voice nor silence to it).

Each file's name carries a hash of what it is made from, so changing a clip makes a new file.
Several processes may call `ensure()` at once: each writes a temporary file and renames it.

Usage: `python -m rig.audio` makes the files and prints where they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from rig import RigError, rig_dir

RATE: Final = 8000
"""Samples per second (G.711)."""
PACKET_SAMPLES: Final = 160
"""Samples in one 20 ms RTP packet, as SIPp sends payload type 0."""
ULAW_SILENCE: Final = b"\xff"
"""Mu-law code for a zero sample."""
_FORMAT: Final = 1
"""Bumped when the way a clip is made changes, so files made the old way are not reused."""
VOICE_THRESHOLD: Final = 256
"""A sample louder than this (of 32767) counts as sound when finding where the speech is; the
same level as amd.conf's silence_threshold."""
_ULAW_OUT: Final = ("-r", str(RATE), "-c", "1", "-e", "mu-law", "-t", "raw")
"""sox output options: headerless 8 kHz mono mu-law."""


@dataclass(frozen=True, slots=True)
class Clip:
    """One recording: `lead_s` of silence, espeak-ng saying `text`, optionally a beep
    (`beep_gap_s` of silence then `beep_s` of a `beep_hz` tone), then `tail_s` of silence."""

    name: str
    text: str
    lead_s: float
    tail_s: float
    beep_gap_s: float = 0.0
    beep_s: float = 0.0
    beep_hz: int = 1000
    voice: str = "en-us"
    words_per_minute: int = 175

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"clip name must be an identifier, got {self.name!r}")
        if not self.text.strip():
            raise ValueError("clip text must not be empty")
        for what in ("lead_s", "tail_s", "beep_gap_s", "beep_s"):
            if getattr(self, what) < 0:
                raise ValueError(f"{what} must be >= 0")

    @property
    def digest(self) -> str:
        spec = json.dumps({"format": _FORMAT, **asdict(self)}, sort_keys=True).encode()
        return hashlib.sha256(spec).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A clip on disk, with where its parts fall (seconds from the first RTP packet)."""

    clip: Clip
    path: Path
    speech_start_s: float
    speech_end_s: float
    beep_end_s: float | None
    total_s: float

    def rtp_stream(self, loops: int = 1) -> str:
        """SIPp's `rtp_stream` value: the file, played `loops` times (`FOREVER`: until the call
        ends; 0: not at all), as payload type 0 (PCMU)."""
        return f"{self.path},{loops},0"


HELLO: Final = Clip(name="hello", text="Hello?", lead_s=0.3, tail_s=20.0)
GREETING: Final = Clip(
    name="greeting",
    text=(
        "Hi, you have reached the voicemail of John Smith. I can not take your call right "
        "now. Please leave a message after the tone, and I will call you back."
    ),
    lead_s=0.3,
    tail_s=20.0,
    beep_gap_s=0.5,
    beep_s=0.5,
)
AGENT: Final = Clip(
    name="agent",
    text="Hello, this is the test agent. How can I help you today?",
    lead_s=0.3,
    tail_s=5.0,
)
CLIPS: Final = (HELLO, GREETING, AGENT)

FOREVER: Final = -1
"""SIPp's loop count for a stream that plays until the call ends."""


def audio_dir() -> Path:
    return rig_dir() / "audio"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RigError(f"{name} is not installed (apt-get install {package})")
    return path


def _run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise RigError(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def _seconds(samples: int) -> float:
    return round(samples / RATE, 4)


def ulaw_to_linear(code: int) -> int:
    """One G.711 mu-law byte as a 16-bit linear sample (ITU-T G.711)."""
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + 0x84) << exponent
    return 0x84 - magnitude if code & 0x80 else magnitude - 0x84


def voiced_span(data: bytes, threshold: int = VOICE_THRESHOLD) -> tuple[int, int] | None:
    """(first, last + 1) sample index louder than `threshold`, or None if all of it is quieter."""
    loud = [i for i, code in enumerate(data) if abs(ulaw_to_linear(code)) > threshold]
    return (loud[0], loud[-1] + 1) if loud else None


def _render(clip: Clip, target: Path) -> Rendered:
    espeak = _tool("espeak-ng", "espeak-ng")
    sox = _tool("sox", "sox")
    with tempfile.TemporaryDirectory(prefix=f"rig-audio-{clip.name}-") as tmp:
        work = Path(tmp)
        spoken = work / "spoken.wav"
        voice = ["-v", clip.voice, "-s", str(clip.words_per_minute)]
        _run([espeak, *voice, "-w", str(spoken), "--", clip.text])
        speech = work / "speech.raw"
        _run([sox, str(spoken), *_ULAW_OUT, str(speech)])
        spoken_bytes = speech.read_bytes()
        span = voiced_span(spoken_bytes)
        if span is None:
            raise RigError(f"espeak-ng said nothing audible for {clip.text!r}")
        parts = [ULAW_SILENCE * round(clip.lead_s * RATE), spoken_bytes]
        # espeak-ng pads its speech with some silence of its own: report where the sound is.
        speech_start = len(parts[0]) + span[0]
        speech_end = len(parts[0]) + span[1]
        beep_end: int | None = None
        if clip.beep_s > 0:
            beep = work / "beep.raw"
            tone = ["synth", str(clip.beep_s), "sine", str(clip.beep_hz), "vol", "0.5"]
            _run([sox, "-n", *_ULAW_OUT, str(beep), *tone])
            parts += [ULAW_SILENCE * round(clip.beep_gap_s * RATE), beep.read_bytes()]
            beep_end = sum(len(part) for part in parts)
        parts.append(ULAW_SILENCE * round(clip.tail_s * RATE))
        data = b"".join(parts)
        data += ULAW_SILENCE * (-len(data) % PACKET_SAMPLES)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp_name, 0o644)
    rendered = Rendered(
        clip,
        target,
        _seconds(speech_start),
        _seconds(speech_end),
        None if beep_end is None else _seconds(beep_end),
        _seconds(len(data)),
    )
    meta = target.with_suffix(".json")
    meta_fd, meta_tmp = tempfile.mkstemp(prefix=f".{meta.name}.", dir=target.parent)
    with os.fdopen(meta_fd, "w") as out:
        json.dump(_meta(rendered), out, indent=2)
    os.chmod(meta_tmp, 0o644)
    os.replace(meta_tmp, meta)
    os.replace(tmp_name, target)
    return rendered


def _meta(rendered: Rendered) -> dict[str, object]:
    return {
        "clip": asdict(rendered.clip),
        "speech_start_s": rendered.speech_start_s,
        "speech_end_s": rendered.speech_end_s,
        "beep_end_s": rendered.beep_end_s,
        "total_s": rendered.total_s,
    }


def _load(clip: Clip, target: Path) -> Rendered | None:
    """The clip already on disk, or None if it is missing or incomplete."""
    try:
        meta = json.loads(target.with_suffix(".json").read_text())
        size = target.stat().st_size
    except (OSError, ValueError):
        return None
    if size == 0 or size % PACKET_SAMPLES or _seconds(size) != meta.get("total_s"):
        return None
    beep_end = meta.get("beep_end_s")
    return Rendered(
        clip,
        target,
        float(meta["speech_start_s"]),
        float(meta["speech_end_s"]),
        None if beep_end is None else float(beep_end),
        float(meta["total_s"]),
    )


def path_of(clip: Clip) -> Path:
    return audio_dir() / f"{clip.name}-{clip.digest}.ulaw"


def ensure(clip: Clip) -> Rendered:
    """The clip's file, made now if it is not there yet."""
    target = path_of(clip)
    found = _load(clip, target)
    return found if found is not None else _render(clip, target)


def ensure_all() -> dict[str, Rendered]:
    """Every clip the trunk plays, by name."""
    return {clip.name: ensure(clip) for clip in CLIPS}


def _key_args(keys: dict[str, str]) -> list[str]:
    return [arg for key, value in keys.items() for arg in ("-key", key, value)]


def trunk_keys(media: bool = True) -> list[str]:
    """SIPp arguments (`-key NAME FILE,LOOPS,0 ...`) that give rig/sipp/trunk_uas.xml its audio.

    `amd_hello` and `amd_greeting` are what AMD() hears (Behaviour.AMD_HUMAN, AMD_MACHINE);
    `customer_media` is what every other answered call sends: the same "Hello?" and silence.
    With `media` False answered calls send no RTP (only the AMD clips play, once, which AMD()
    needs): for benchmarks that measure signalling alone.
    """
    loops = FOREVER if media else 1
    hello = ensure(HELLO)
    return _key_args(
        {
            "amd_hello": hello.rtp_stream(loops),
            "amd_greeting": ensure(GREETING).rtp_stream(loops),
            "customer_media": hello.rtp_stream(FOREVER if media else 0),
        }
    )


def headset_keys(media: bool = True) -> list[str]:
    """SIPp arguments that give rig/sipp/headset_uas.xml its audio (`agent_media`); with `media`
    False the stream is played zero times: the headsets send no RTP."""
    return _key_args({"agent_media": ensure(AGENT).rtp_stream(FOREVER if media else 0)})


def main() -> int:
    for name, rendered in ensure_all().items():
        beep = "" if rendered.beep_end_s is None else f", beep ends {rendered.beep_end_s} s"
        print(
            f"{name}: {rendered.path} ({rendered.total_s} s; speech "
            f"{rendered.speech_start_s}-{rendered.speech_end_s} s{beep})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
