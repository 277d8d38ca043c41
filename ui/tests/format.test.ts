import { describe, expect, it } from "vitest";
import {
  describeEnd,
  describeError,
  durationSecs,
  formatBitrate,
  formatDuration,
  formatFingerprint,
  formatPercent,
  isFingerprint,
  isRelayAddress,
  shortFingerprint,
  timeAgo,
  toAppError,
} from "../src/format";
import { s } from "../src/strings";

describe("format", () => {
  it("durations", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(65.9)).toBe("1:05");
    expect(formatDuration(3600 + 61)).toBe("1:01:01");
    expect(formatDuration(-5)).toBe("0:00");
  });
  it("bitrates", () => {
    expect(formatBitrate(850)).toBe("850 bit/s");
    expect(formatBitrate(24_000)).toBe("24.0 kbit/s");
    expect(formatBitrate(1_200_000)).toBe("1.20 Mbit/s");
    expect(formatBitrate(NaN)).toBe("–");
  });
  it("percent is clamped", () => {
    expect(formatPercent(0.0234)).toBe("2.3 %");
    expect(formatPercent(2)).toBe("100.0 %");
  });
  it("fingerprints group by 4 whatever the input form", () => {
    const hex = "0123456789abcdef0123456789ABCDEF";
    expect(formatFingerprint(hex)).toBe("0123:4567:89ab:cdef:0123:4567:89ab:cdef");
    expect(formatFingerprint("0123:4567:89ab:cdef:0123:4567:89ab:cdef")).toBe(formatFingerprint(hex));
    expect(shortFingerprint(hex)).toBe("0123:4567");
    expect(isFingerprint("0123 4567:89ab:cdef:0123:4567:89ab:cdef")).toBe(true);
    expect(isFingerprint("0123")).toBe(false);
    expect(isFingerprint("zz23456789abcdef0123456789abcdef")).toBe(false);
  });
  it("relay addresses", () => {
    expect(isRelayAddress("127.0.0.1:4433")).toBe(true);
    expect(isRelayAddress("relay.example.org:4433")).toBe(true);
    expect(isRelayAddress("[::1]:4433")).toBe(true);
    expect(isRelayAddress("relay.example.org")).toBe(false);
    expect(isRelayAddress("host:0")).toBe(false);
    expect(isRelayAddress("host:70000")).toBe(false);
  });
  it("time ago", () => {
    const now = 1_000_000_000_000;
    const t = now / 1000;
    expect(timeAgo(t - 10, now)).toBe("just now");
    expect(timeAgo(t - 300, now)).toBe("5 min ago");
    expect(timeAgo(t - 7200, now)).toBe("2 h ago");
    expect(timeAgo(t - 86400, now)).toBe("yesterday");
    expect(timeAgo(t - 3 * 86400, now)).toBe("3 days ago");
    expect(timeAgo(0, now)).toBe("1970-01-01");
  });
  it("errors from commands become words with the detail kept", () => {
    const d = describeError({ kind: "no_secret_store", message: "Unable to autolaunch a dbus-daemon" });
    expect(d.text).toBe(s.errors.no_secret_store);
    expect(d.detail).toContain("dbus");
    expect(describeError(new Error("boom")).text).toBe(s.errors.unknown);
    expect(describeError({ kind: "brand_new_kind", message: "x" }).text).toBe(s.errors.unknown);
    expect(toAppError("plain")).toEqual({ kind: "unknown", message: "plain" });
  });
  it("every error kind the shell sends has words", () => {
    for (const k of ["no_secret_store", "secret_store", "no_identity", "invalid_input", "storage", "already_in_call", "not_in_call", "relay_unreachable", "call", "relay_host", "internal"]) {
      expect(s.errors[k], k).toBeTruthy();
    }
  });
  it("end reasons", () => {
    expect(describeEnd({ reason: "local_hangup" })).toBe(s.ended.local_hangup);
    expect(describeEnd({ reason: "connect_failed", message: "timed out" })).toBe(`${s.ended.connect_failed} (timed out)`);
    expect(describeEnd(undefined)).toBe(s.ended.failed);
    expect(describeEnd({ reason: "whatever" })).toBe(s.ended.failed);
  });
  it("serde durations", () => {
    expect(durationSecs({ secs: 3, nanos: 500_000_000 })).toBe(3.5);
    expect(durationSecs(undefined)).toBe(0);
  });
});
