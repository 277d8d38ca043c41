import { describe, expect, it } from "vitest";
import { isPttKey, micMuted, pttKeyName, pttKeyOf } from "../src/ptt";

describe("push-to-talk key", () => {
  it("takes the physical key, or the key where there is no code", () => {
    expect(pttKeyOf({ code: "Space", key: " " })).toBe("Space");
    expect(pttKeyOf({ code: "KeyT", key: "t" })).toBe("KeyT");
    expect(pttKeyOf({ code: "", key: "F8" })).toBe("F8");
  });
  it("refuses keys that already do something", () => {
    for (const [code, key] of [["Escape", "Escape"], ["Tab", "Tab"], ["Enter", "Enter"], ["KeyM", "m"], ["KeyV", "v"], ["ShiftLeft", "Shift"], ["", "m"]]) {
      expect(pttKeyOf({ code, key })).toBeNull();
    }
  });
  it("matches events of that key only", () => {
    expect(isPttKey("Space", { code: "Space", key: " " })).toBe(true);
    expect(isPttKey("Space", { code: "KeyT", key: "t" })).toBe(false);
    expect(isPttKey("F8", { code: "", key: "F8" })).toBe(true);
    expect(isPttKey(null, { code: "Space", key: " " })).toBe(false);
    expect(isPttKey("", { code: "", key: "" })).toBe(false);
  });
  it("names keys as people read them", () => {
    expect(pttKeyName("Space")).toBe("Space");
    expect(pttKeyName("KeyT")).toBe("T");
    expect(pttKeyName("Digit5")).toBe("5");
    expect(pttKeyName("Backquote")).toBe("`");
    expect(pttKeyName("Numpad0")).toBe("Keypad 0");
    expect(pttKeyName("F8")).toBe("F8");
  });
});

describe("micMuted", () => {
  it("opens the microphone only while the key is held, unless muted", () => {
    expect(micMuted(false, null, false)).toBe(false);
    expect(micMuted(true, null, false)).toBe(true);
    expect(micMuted(false, "Space", false)).toBe(true);
    expect(micMuted(false, "Space", true)).toBe(false);
    expect(micMuted(true, "Space", true)).toBe(true);
  });
});
