import { describe, expect, it } from "vitest";
import type { HistoryEntry } from "../src/api";
import { callerName, historyTitle, listenerText, offerEndedNotice, type ListenerStatus } from "../src/incoming";
import { s } from "../src/strings";

const fp = "0123456789abcdef0123456789abcdef";

function entry(direction: HistoryEntry["direction"], end_reason: string, alias: string | null = "Ana"): HistoryEntry {
  return {
    target: direction === "room" ? "friends" : fp,
    direction,
    relay: "r:1",
    started_unix: 0,
    duration_secs: 0,
    participants: [{ fingerprint: fp, alias }],
    end_reason,
  };
}

describe("incoming calls", () => {
  it("names the caller: contact, then alias, then short fingerprint", () => {
    expect(callerName(fp, "Ana", "Ana Smith")).toBe("Ana Smith");
    expect(callerName(fp, " Ana ")).toBe("Ana");
    expect(callerName(fp, "  ")).toBe("0123:4567");
    expect(callerName(fp, null, " ")).toBe("0123:4567");
  });

  it("says whether we can be called, and what to do when not", () => {
    const st = (state: ListenerStatus["state"], retry: number | null = null): ListenerStatus => ({
      state,
      relay: "10.0.0.2:4433",
      error: retry ? "timed out" : null,
      retry_in_secs: retry,
    });
    expect(listenerText(null)).toBe(s.listener.off);
    expect(listenerText(st("off"), false)).toBe(s.listener.disabled);
    expect(listenerText(st("listening"))).toBe("Reachable for calls via 10.0.0.2:4433");
    expect(listenerText(st("connecting"))).toContain("10.0.0.2:4433");
    const retrying = listenerText(st("retrying", 8));
    expect(retrying).toContain("trying again in 8 s");
    expect(retrying).toContain("Settings");
  });

  it("tells about missed and busy calls only", () => {
    expect(offerEndedNotice({ id: 1, outcome: "missed", entry: entry("missed", "missed") })).toBe("Missed call from Ana");
    expect(offerEndedNotice({ id: 1, outcome: "busy", entry: entry("missed", "busy", null) })).toBe(
      "0123:4567 called while you were in another call",
    );
    expect(offerEndedNotice({ id: 1, outcome: "declined", entry: entry("missed", "declined") })).toBeNull();
    expect(offerEndedNotice({ id: 1, outcome: "answered", entry: null })).toBeNull();
  });

  it("titles history entries by direction", () => {
    expect(historyTitle(entry("room", "local_hangup"))).toBe(s.recentRoom("friends"));
    expect(historyTitle(entry("placed", "local_hangup"))).toBe("You called Ana");
    expect(historyTitle(entry("received", "remote_hangup"))).toBe("Ana called you");
    expect(historyTitle(entry("missed", "missed"))).toBe("Missed call from Ana");
    expect(historyTitle(entry("missed", "busy"))).toBe("Missed call from Ana");
    expect(historyTitle(entry("missed", "declined"))).toBe("You declined a call from Ana");
    expect(historyTitle(entry("received", "x"), "Ana Smith")).toBe("Ana Smith called you");
  });
});

describe("the incoming-call notification's words", () => {
  // The shell (src-tauri/src/notify.rs, `Labels`) takes exactly these fields and fills in
  // {name} and {fingerprint}; a renamed field or a lost placeholder would leave the
  // notification in the shell's English defaults or without the caller.
  it("has the fields the shell reads, with their placeholders", () => {
    expect(Object.keys(s.notification).sort()).toEqual(["accept", "body", "body_verified", "decline", "show", "title"]);
    expect(s.notification.title).toContain("{name}");
    expect(s.notification.body).toContain("{fingerprint}");
    expect(s.notification.body_verified).toContain("{fingerprint}");
    for (const v of Object.values(s.notification)) expect(v.trim()).not.toBe("");
  });
});
