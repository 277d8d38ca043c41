import { describe, expect, it } from "vitest";
import { checkAnswers, pickPositions, splitPhrase } from "../src/confirm";
import { shortcutFor } from "../src/shortcuts";

const words = Array.from({ length: 24 }, (_, i) => `word${i + 1}`);

describe("backup confirmation", () => {
  it("picks distinct sorted positions in range", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < 100; i++) {
      const p = pickPositions(24, 3, rand);
      expect(p).toHaveLength(3);
      expect(new Set(p).size).toBe(3);
      expect([...p].sort((a, b) => a - b)).toEqual(p);
      expect(p.every((x) => x >= 1 && x <= 24)).toBe(true);
    }
    expect(pickPositions(24, 3, () => 0.999999)).toEqual([22, 23, 24]);
  });
  it("checks answers ignoring case and spaces", () => {
    expect(checkAnswers(words, [1, 5, 24], ["word1", " WORD5 ", "word24"])).toBe(true);
    expect(checkAnswers(words, [1, 5, 24], ["word1", "word4", "word24"])).toBe(false);
    expect(checkAnswers(words, [1, 5], ["word1"])).toBe(false);
  });
  it("splits a pasted phrase", () => {
    expect(splitPhrase("  Abandon\tability\n able  ")).toEqual(["abandon", "ability", "able"]);
    expect(splitPhrase("   ")).toEqual([]);
  });
});

describe("shortcuts", () => {
  const k = (key: string, o: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean; targetTag: string }> = {}) => ({
    key,
    ctrlKey: false,
    metaKey: false,
    altKey: false,
    ...o,
  });
  it("maps M, V and Ctrl/Cmd+E", () => {
    expect(shortcutFor(k("m"))).toBe("mute");
    expect(shortcutFor(k("M"))).toBe("mute");
    expect(shortcutFor(k("v"))).toBe("camera");
    expect(shortcutFor(k("e", { ctrlKey: true }))).toBe("hangup");
    expect(shortcutFor(k("e", { metaKey: true }))).toBe("hangup");
    expect(shortcutFor(k("e"))).toBe(null);
  });
  it("ignores letters while typing, but not hang up", () => {
    expect(shortcutFor(k("m", { targetTag: "INPUT" }))).toBe(null);
    expect(shortcutFor(k("v", { targetTag: "TEXTAREA" }))).toBe(null);
    expect(shortcutFor(k("e", { ctrlKey: true, targetTag: "INPUT" }))).toBe("hangup");
    expect(shortcutFor(k("m", { ctrlKey: true }))).toBe(null);
  });
});
