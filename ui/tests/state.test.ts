import { describe, expect, it } from "vitest";
import { applyEvent, displayName, isOver, newCall, setMuted, type CallView, type EngineEvent } from "../src/state";

const info = { call_no: 1, target: "friends", direction: "room" as const, relay: "127.0.0.1:4433", video: false };
const fpA = "aaaa0000aaaa0000aaaa0000aaaa0000";

function run(events: EngineEvent[], v: CallView = newCall(info)): CallView {
  return events.reduce(applyEvent, v);
}

const stats = (quality: "good" | "fair" | "poor", muted = false): EngineEvent => ({
  event: "stats",
  active_for: { secs: 5, nanos: 0 },
  bitrate_out_bps: 30000,
  echo_erle_db: null,
  relay: "127.0.0.1:4433",
  reconnects: 0,
  participants: [{ id: 2, rtt_ms: 3, loss: 0, jitter_ms: 40, bitrate_in_bps: 28000, audio_codec: "Opus24k", resolution: null, fps: 0, muted, quality }],
});

describe("call view reducer", () => {
  it("starts connecting and follows states", () => {
    const v = run([{ event: "state", state: "active" }]);
    expect(v.state).toBe("active");
    const r = run([{ event: "state", state: "reconnecting", attempt: 2 }], v);
    expect(r.state).toBe("reconnecting");
    expect(r.attempt).toBe(2);
  });

  it("adds, updates and removes participants without mutating", () => {
    const v0 = newCall(info);
    const v1 = applyEvent(v0, { event: "participant_joined", id: 2, fingerprint: fpA, alias: "bob" });
    expect(v0.participants).toHaveLength(0);
    expect(v1.participants).toHaveLength(1);
    const v2 = applyEvent(v1, { event: "speaking", local: 0.4, remote: [[2, 0.7, true]] });
    expect(v2.participants[0].speaking).toBe(true);
    expect(v2.localLevel).toBe(0.4);
    const v3 = applyEvent(v2, { event: "speaking", local: 0, remote: [] });
    expect(v3.participants[0].speaking).toBe(false);
    const v4 = applyEvent(v3, { event: "participant_left", id: 2 });
    expect(v4.participants).toHaveLength(0);
  });

  it("stats set quality and muted per participant", () => {
    const v = run([{ event: "participant_joined", id: 2, fingerprint: fpA, alias: null }, stats("fair", true)]);
    expect(v.participants[0].quality).toBe("fair");
    expect(v.participants[0].muted).toBe(true);
    expect(v.stats?.bitrate_out_bps).toBe(30000);
    expect(v.stats && "event" in v.stats).toBe(false);
  });

  it("verification may arrive before the join", () => {
    const v = run([
      { event: "verification", id: 3, fingerprint: fpA, short_code: "123456", safety_number: "11111 22222" },
      { event: "participant_joined", id: 3, fingerprint: fpA, alias: "carol" },
    ]);
    expect(v.participants).toHaveLength(1);
    expect(v.participants[0].shortCode).toBe("123456");
    expect(v.participants[0].alias).toBe("carol");
  });

  it("ended is final and keeps the reason", () => {
    const v = run([
      { event: "state", state: "active" },
      { event: "state", state: "ended", reason: { reason: "remote_hangup" } },
      { event: "state", state: "active" },
    ]);
    expect(isOver(v)).toBe(true);
    expect(v.endReason).toEqual({ reason: "remote_hangup" });
  });

  it("the camera starts on only when the call has a video source", () => {
    expect(newCall(info).camera).toBe(false);
    expect(newCall({ ...info, video: true }).camera).toBe(true);
  });

  it("muted shows no local level", () => {
    const v = run([{ event: "speaking", local: 0.5, remote: [] }], setMuted(newCall(info), true));
    expect(v.localLevel).toBe(0);
  });

  it("keeps the last five warnings", () => {
    const v = run(Array.from({ length: 7 }, (_, i) => ({ event: "warning" as const, message: `w${i}` })));
    expect(v.warnings).toEqual(["w2", "w3", "w4", "w5", "w6"]);
  });

  it("display names fall back to the fingerprint, then the id", () => {
    const v = run([{ event: "participant_joined", id: 2, fingerprint: fpA, alias: "  " }]);
    expect(displayName(v.participants[0], (f) => f.slice(0, 4))).toBe("aaaa");
    expect(displayName({ ...v.participants[0], fingerprint: "" }, () => "")).toBe("#2");
  });
});

import { layoutKey, videoParticipants } from "../src/state";

describe("video tiles", () => {
  it("only participants with arriving video get a tile, none once ended", () => {
    const s2 = stats("good");
    const withRes: EngineEvent = s2.event === "stats"
      ? { ...s2, participants: [{ ...s2.participants[0], resolution: [320, 192], fps: 15 }] }
      : s2;
    const v = run([
      { event: "participant_joined", id: 2, fingerprint: fpA, alias: null },
      { event: "participant_joined", id: 3, fingerprint: fpA, alias: null },
      withRes,
    ]);
    expect(videoParticipants(v).map((p) => p.id)).toEqual([2]);
    expect(videoParticipants(applyEvent(v, { event: "state", state: "ended" }))).toEqual([]);
  });
  it("layout keys change only when a rounded rect changes", () => {
    const a = { area: { x: 10.2, y: 20, width: 300, height: 200 }, tiles: [{ participant: 2, rect: { x: 10, y: 20, width: 150, height: 100 } }] };
    const b = { ...a, area: { ...a.area, x: 10.4 } };
    expect(layoutKey(a)).toBe(layoutKey(b));
    expect(layoutKey(a)).not.toBe(layoutKey({ ...a, area: { ...a.area, width: 320 } }));
    expect(layoutKey({ area: null, tiles: [] })).toBe("none|");
  });
});
