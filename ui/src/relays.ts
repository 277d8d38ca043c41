// The relay list as the shell keeps it (src-tauri/src/relays.rs) and pure helpers
// (unit-tested in tests/relays.test.ts).
import { isRelayAddress } from "./format";
import { s } from "./strings";

/** A relay in the list, with the key it is pinned to. */
export interface RelayView {
  name: string;
  address: string;
  /** 32 colon-separated hex pairs, or null when never contacted and none was typed. */
  fingerprint: string | null;
  /** "typed": from the operator; "first_use": recorded at the first connection. */
  pin: "typed" | "first_use" | "none";
}

/** What a ping found (the shell's PingResult). */
export type PingResult =
  | { status: "ok"; rtt_ms: number; handshake_ms: number; fingerprint: string; first_use: boolean }
  | { status: "key_changed"; pinned: string; presented: string }
  | { status: "unreachable"; reason: string };

/** A relay's ping state in the UI: not pinged yet, pinging, or the result. */
export type PingState = { status: "idle" } | { status: "pinging" } | PingResult;

/** A relay key reduced to its 64 hex digits, for comparing written forms. */
function keyDigits(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
}

/** Whether text is a relay key (64 hex digits, colons optional). */
export function isRelayKey(text: string): boolean {
  return /^[0-9a-fA-F:\s]+$/.test(text.trim()) && keyDigits(text).length === 64;
}

/** Why a relay cannot be added as typed (a sentence saying what to fix), or null. */
export function checkNewRelay(name: string, address: string, key: string): string | null {
  if (!isRelayAddress(address)) return s.relayBadAddress;
  if ([...name.trim()].length > 64) return s.relayNameTooLong;
  if (key.trim() && !isRelayKey(key)) return s.relayBadKey;
  return null;
}

/** The words shown for a relay's ping state. */
export function pingText(p: PingState): string {
  switch (p.status) {
    case "idle":
      return "";
    case "pinging":
      return s.relayPinging;
    case "ok":
      return p.first_use ? s.relayOkFirstUse(Math.round(p.rtt_ms)) : s.relayOk(Math.round(p.rtt_ms));
    case "key_changed":
      return s.relayKeyChanged;
    case "unreachable":
      return s.relayUnreachable;
  }
}

/** A long key split in two lines' worth of groups, for reading aloud or comparing. */
export function keyForDisplay(fp: string): string {
  const pairs = keyDigits(fp).match(/../g) ?? [];
  return pairs.join(":");
}
