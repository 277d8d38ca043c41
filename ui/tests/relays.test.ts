import { describe, expect, it } from "vitest";
import { checkNewRelay, isRelayKey, keyForDisplay, pingText } from "../src/relays";
import { s } from "../src/strings";

const KEY = "ab".repeat(32);

describe("relay keys", () => {
  it("accepts 64 hex digits with or without colons", () => {
    expect(isRelayKey(KEY)).toBe(true);
    expect(isRelayKey(keyForDisplay(KEY))).toBe(true);
    expect(isRelayKey(KEY.toUpperCase())).toBe(true);
  });
  it("refuses short, long and non-hex keys", () => {
    expect(isRelayKey(KEY.slice(2))).toBe(false);
    expect(isRelayKey(KEY + "00")).toBe(false);
    expect(isRelayKey("zz" + KEY.slice(2))).toBe(false);
    expect(isRelayKey("")).toBe(false);
  });
  it("shows a key as colon-separated pairs", () => {
    expect(keyForDisplay("AB-cd 12")).toBe("ab:cd:12");
  });
});

describe("checkNewRelay", () => {
  it("needs HOST:PORT", () => {
    expect(checkNewRelay("", "relay.example.org", "")).toBe(s.relayBadAddress);
    expect(checkNewRelay("", "relay.example.org:0", "")).toBe(s.relayBadAddress);
    expect(checkNewRelay("", "relay.example.org:4433", "")).toBeNull();
    expect(checkNewRelay("", "[::1]:4433", "")).toBeNull();
  });
  it("limits the name and checks a typed key", () => {
    expect(checkNewRelay("x".repeat(65), "h:1", "")).toBe(s.relayNameTooLong);
    expect(checkNewRelay("Home", "h:1", "12:34")).toBe(s.relayBadKey);
    expect(checkNewRelay("Home", "h:1", keyForDisplay(KEY))).toBeNull();
  });
});

describe("pingText", () => {
  it("says what a ping found", () => {
    expect(pingText({ status: "idle" })).toBe("");
    expect(pingText({ status: "pinging" })).toBe(s.relayPinging);
    expect(pingText({ status: "ok", rtt_ms: 12.6, handshake_ms: 20, fingerprint: KEY, first_use: false })).toBe(s.relayOk(13));
    expect(pingText({ status: "ok", rtt_ms: 0.4, handshake_ms: 1, fingerprint: KEY, first_use: true })).toBe(s.relayOkFirstUse(0));
    expect(pingText({ status: "key_changed", pinned: KEY, presented: KEY })).toBe(s.relayKeyChanged);
    expect(pingText({ status: "unreachable", reason: "no answer" })).toBe(s.relayUnreachable);
  });
  it("names the round trip in the words", () => {
    expect(s.relayOk(13)).toContain("13 ms");
  });
});
