#!/usr/bin/env python3
"""Writes ui/src/assets/ring.wav, the incoming-call ringing sound (the UI loops it).

One 2-second cycle: two 0.4 s bursts of 440 Hz + 480 Hz (the classic two-tone ring),
0.2 s apart, with 10 ms fades so there are no clicks, then 1.0 s of silence.
8 kHz mono 16-bit PCM (the tones are far below 4 kHz) keeps it at 32 KB. The UI inlines
it as a data: URL (main.ts, `?inline`), because WebKitGTK cannot play media from the
app's tauri:// scheme (tauri-apps/tauri#3725). Standard library only, deterministic:
run `python3 ui/scripts/make-ring.py` to regenerate the identical file.
"""
import math
import struct
import wave
from pathlib import Path

RATE = 8_000
OUT = Path(__file__).resolve().parent.parent / "src" / "assets" / "ring.wav"


def burst(seconds: float) -> list[float]:
    n = int(seconds * RATE)
    fade = int(0.010 * RATE)
    out = []
    for i in range(n):
        t = i / RATE
        env = min(1.0, i / fade, (n - 1 - i) / fade)
        out.append(env * 0.5 * (math.sin(2 * math.pi * 440 * t) + math.sin(2 * math.pi * 480 * t)) / 2)
    return out


def silence(seconds: float) -> list[float]:
    return [0.0] * int(seconds * RATE)


samples = burst(0.4) + silence(0.2) + burst(0.4) + silence(1.0)
with wave.open(str(OUT), "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(RATE)
    w.writeframes(b"".join(struct.pack("<h", int(max(-1.0, min(1.0, x)) * 32767 * 0.8)) for x in samples))
print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
