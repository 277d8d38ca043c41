import { describe, expect, it } from "vitest";
import type { Device } from "../src/api";
import { applyMicLevel, deviceOptions, micLevelText, micTestIdle } from "../src/devices";
import { s } from "../src/strings";

const devs: Device[] = [
  { id: "mic1", name: "USB mic", direction: "input", is_default: false },
  { id: "spk1", name: "Speakers", direction: "output", is_default: true },
  { id: "mic2", name: "Built-in", direction: "input", is_default: true },
];

describe("device pickers", () => {
  it("list the default first, then devices of one direction", () => {
    expect(deviceOptions(devs, "input")).toEqual([
      ["", s.systemDefault],
      ["mic1", "USB mic"],
      ["mic2", "Built-in (system default)"],
    ]);
    expect(deviceOptions(devs, "output")).toEqual([
      ["", s.systemDefault],
      ["spk1", "Speakers (system default)"],
    ]);
  });
  it("offer the system default when devices are not listed yet", () => {
    expect(deviceOptions(null, "output")).toEqual([["", s.systemDefault]]);
  });
});

describe("microphone test meter", () => {
  const running = { ...micTestIdle, test: 2 };
  it("follows the running test's levels, clamped", () => {
    const t = applyMicLevel(running, { test: 2, level: 0.4, peak: 0.7, stopped: false, error: null });
    expect(t).toEqual({ test: 2, level: 0.4, peak: 0.7, error: null });
    expect(applyMicLevel(t, { test: 2, level: 1.5, peak: Number.NaN, stopped: false, error: null })).toMatchObject({ level: 1, peak: 0 });
  });
  it("ignores events of another test, and all when none runs", () => {
    expect(applyMicLevel(running, { test: 1, level: 0.9, peak: 0.9, stopped: false, error: null })).toBe(running);
    expect(applyMicLevel(micTestIdle, { test: 2, level: 0.9, peak: 0.9, stopped: false, error: null })).toBe(micTestIdle);
  });
  it("resets when the running test ends, keeping why", () => {
    const t = applyMicLevel({ ...running, level: 0.5 }, { test: 2, stopped: true, error: "unplugged" });
    expect(t).toEqual({ test: null, level: 0, peak: 0, error: "unplugged" });
  });
  it("says the level in words", () => {
    expect(micLevelText(0)).toEqual({ percent: 0, text: "Silent" });
    expect(micLevelText(0.456)).toEqual({ percent: 46, text: "Level 46%" });
    expect(micLevelText(2).percent).toBe(100);
  });
});
