// Sound device choices for the settings card and the in-call pickers (pure; unit-tested
// in tests/devices.test.ts).
import type { Device, MicLevelEvent } from "./api";
import { s } from "./strings";

/** [value, label] pairs for a picker: "System default" (value "") first, then the
 * devices of that direction, the system's default one marked. */
export function deviceOptions(devices: Device[] | null, dir: "input" | "output"): [string, string][] {
  return [
    ["", s.systemDefault],
    ...(devices ?? [])
      .filter((d) => d.direction === dir)
      .map((d): [string, string] => [d.id, d.is_default ? s.deviceIsDefault(d.name) : d.name]),
  ];
}

/** What the settings card shows of the microphone test. */
export interface MicTest {
  /** The running test's number (null: none runs). */
  test: number | null;
  /** Meter value 0..1 and the recent peak on the same scale. */
  level: number;
  peak: number;
  /** Why the last test stopped by itself. */
  error: string | null;
}

export const micTestIdle: MicTest = { test: null, level: 0, peak: 0, error: null };

/** Applies a `mic-level` event. Events of another test (an old one still closing, or
 * one replaced by a device change) are ignored; the end of the running one resets the
 * meter and keeps its error. */
export function applyMicLevel(t: MicTest, e: MicLevelEvent): MicTest {
  if (t.test === null || e.test !== t.test) return t;
  if (e.stopped) return { ...micTestIdle, error: e.error };
  const clamp = (x: number | undefined) => Math.min(1, Math.max(0, Number.isFinite(x) ? (x as number) : 0));
  return { ...t, level: clamp(e.level), peak: clamp(e.peak) };
}

/** The meter's value in whole percent, and its words for assistive technology. */
export function micLevelText(level: number): { percent: number; text: string } {
  const percent = Math.round(Math.min(1, Math.max(0, level)) * 100);
  return { percent, text: s.micLevelText(percent) };
}
