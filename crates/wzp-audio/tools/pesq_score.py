#!/usr/bin/env python3
"""Prints the PESQ wideband MOS-LQO of a degraded WAV against a reference WAV.

Both are 48 kHz mono 16-bit (what the quality bench writes); PESQ wideband
works at 16 kHz, so both are resampled by 1/3 first. Needs `pip install pesq scipy numpy`.
Usage: pesq_score.py reference.wav degraded.wav
"""
import sys
import wave

import numpy as np
from pesq import pesq
from scipy.signal import resample_poly


def load(path):
    with wave.open(path) as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    return resample_poly(data / 32768.0, 16000, rate)


ref = load(sys.argv[1])
deg = load(sys.argv[2])
n = min(len(ref), len(deg))
print(f"{pesq(16000, ref[:n], deg[:n], 'wb'):.3f}")
