import { describe, expect, it } from "vitest";
import { linkForm } from "../src/links";

describe("wzp:// links fill in a form, never act", () => {
  it("a room link fills relay, fingerprint and room and focuses Join", () => {
    const f = linkForm({ kind: "join", room: "team", relay: "r.example:4433", relay_fingerprint: "ab".repeat(32) });
    expect(f.fields).toEqual({ "relay-input": "r.example:4433", "relay-fp-input": "ab".repeat(32), "room-input": "team" });
    expect(f.focus).toBe("join-button");
    expect(f.note).toContain("team");
  });
  it("without a relay the user's relay is kept", () => {
    const f = linkForm({ kind: "call", fingerprint: "00".repeat(16), relay: null, relay_fingerprint: null });
    expect(f.fields).toEqual({ "peer-input": "00".repeat(16) });
    expect(f.focus).toBe("call-button");
  });
  it("a contact link fills name and fingerprint", () => {
    const f = linkForm({ kind: "contact", fingerprint: "11".repeat(16), name: null });
    expect(f.fields).toEqual({ "contact-fp": "11".repeat(16), "contact-name": "" });
    expect(f.focus).toBe("add-contact");
  });
});
