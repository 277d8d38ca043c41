import { describe, expect, it } from "vitest";
import type { Device } from "../src/api";
import { deviceOptions } from "../src/devices";
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
