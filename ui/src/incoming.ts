// Incoming calls and the listener that makes them possible: the types the shell sends
// (src-tauri/src/incoming.rs) and pure text helpers (unit-tested in
// tests/incoming.test.ts).
import type { HistoryEntry } from "./api";
import { shortFingerprint } from "./format";
import { s } from "./strings";

/** Whether direct calls can reach us ("listener-state" event, app_status.listener). */
export interface ListenerStatus {
  state: "off" | "connecting" | "listening" | "retrying" | "in_call";
  relay: string | null;
  error: string | null;
  retry_in_secs: number | null;
}

/** A ringing call ("incoming-call" event). */
export interface Offer {
  id: number;
  from: string;
  alias: string | null;
  relay: string;
}

/** An offer that is over ("incoming-ended" event); `entry` is the history entry written. */
export interface OfferEnded {
  id: number;
  outcome: "answered" | "declined" | "missed" | "busy";
  entry: HistoryEntry | null;
}

/** The caller's name to show: the contact's name, else their own alias, else a short fingerprint. */
export function callerName(from: string, alias: string | null, contactName: string | null = null): string {
  return contactName?.trim() || alias?.trim() || shortFingerprint(from);
}

/** One line saying whether (and through which relay) people can call us. */
export function listenerText(st: ListenerStatus | null, receiveCalls = true): string {
  if (!st || st.state === "off") return receiveCalls ? s.listener.off : s.listener.disabled;
  const relay = st.relay ?? "";
  switch (st.state) {
    case "connecting":
      return s.listener.connecting(relay);
    case "listening":
      return s.listener.listening(relay);
    case "in_call":
      return s.listener.inCall(relay);
    case "retrying":
      return s.listener.retrying(relay, st.retry_in_secs ?? 0);
  }
}

/** A banner for an offer nobody answered, or that came while we were busy (else null). */
export function offerEndedNotice(e: OfferEnded, contactName: string | null = null): string | null {
  const peer = e.entry?.participants[0];
  const name = callerName(e.entry?.target ?? "", peer?.alias ?? null, contactName);
  if (e.outcome === "missed") return s.missedCall(name);
  if (e.outcome === "busy") return s.busyCall(name);
  return null;
}

/** The title of a history entry. */
export function historyTitle(en: HistoryEntry, contactName: string | null = null): string {
  if (en.direction === "room") return s.recentRoom(en.target);
  const name = callerName(en.target, en.participants[0]?.alias ?? null, contactName);
  if (en.direction === "received") return s.recentReceived(name);
  if (en.direction === "missed") return en.end_reason === "declined" ? s.recentDeclined(name) : s.recentMissed(name);
  return s.recentDirect(name);
}
