// Sound device choices for the settings card and the in-call pickers (pure; unit-tested
// in tests/devices.test.ts).
import type { Device } from "./api";
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
