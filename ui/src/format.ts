// Pure formatting helpers (unit-tested in tests/format.test.ts).
import { s } from "./strings";

/** Seconds as m:ss or h:mm:ss. */
export function formatDuration(totalSecs: number): string {
  const t = Math.max(0, Math.floor(totalSecs));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

/** Bits per second as "850 bit/s", "24.0 kbit/s" or "1.20 Mbit/s". */
export function formatBitrate(bps: number): string {
  if (!Number.isFinite(bps) || bps < 0) return "–";
  if (bps < 1000) return `${Math.round(bps)} bit/s`;
  if (bps < 1_000_000) return `${(bps / 1000).toFixed(1)} kbit/s`;
  return `${(bps / 1_000_000).toFixed(2)} Mbit/s`;
}

/** A fraction 0..1 as a percentage with one decimal. */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return "–";
  return `${(Math.min(1, Math.max(0, fraction)) * 100).toFixed(1)} %`;
}

/** A fingerprint (32 hex digits, with or without ':') as 8 groups of 4. */
export function formatFingerprint(fp: string): string {
  const hex = fp.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
  const groups = hex.match(/.{1,4}/g) ?? [];
  return groups.join(":");
}

/** The first two groups, for tight spaces (never for verification). */
export function shortFingerprint(fp: string): string {
  return formatFingerprint(fp).split(":").slice(0, 2).join(":");
}

/** Whether a typed fingerprint has the right shape (32 hex digits, ':' and spaces allowed). */
export function isFingerprint(text: string): boolean {
  const clean = text.replace(/[\s:]/g, "");
  return /^[0-9a-fA-F]{32}$/.test(clean);
}

/** Whether a relay address looks like HOST:PORT with a valid port. */
export function isRelayAddress(text: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):(\d{1,5})$/.exec(text.trim());
  if (!m) return false;
  const port = Number(m[2]);
  return port > 0 && port < 65536;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", or a date. */
export function timeAgo(unixSecs: number, nowMs: number = Date.now()): string {
  const d = Math.max(0, Math.floor(nowMs / 1000 - unixSecs));
  if (d < 60) return "just now";
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  if (d < 7 * 86400) {
    const days = Math.floor(d / 86400);
    return days === 1 ? "yesterday" : `${days} days ago`;
  }
  return new Date(unixSecs * 1000).toISOString().slice(0, 10);
}

/** An error as commands return it. */
export interface AppError {
  kind: string;
  message: string;
}

/** Turns anything a command threw into an AppError. */
export function toAppError(e: unknown): AppError {
  if (e && typeof e === "object" && "kind" in e && "message" in e) {
    const o = e as { kind: unknown; message: unknown };
    return { kind: String(o.kind), message: String(o.message) };
  }
  return { kind: "unknown", message: e instanceof Error ? e.message : String(e) };
}

/** Words for a person (what happened, what to do) and the technical detail. */
export function describeError(e: unknown): { text: string; detail: string } {
  const err = toAppError(e);
  const text = s.errors[err.kind] ?? s.errors.unknown;
  return { text, detail: err.message };
}

/** Why a call ended, in words. `reason` is the engine's EndReason ({reason, message?}). */
export function describeEnd(reason: { reason: string; message?: string } | undefined): string {
  if (!reason) return s.ended.failed;
  const base = s.ended[reason.reason] ?? s.ended.failed;
  return reason.message ? `${base} (${reason.message})` : base;
}

/** A serde Duration ({secs, nanos}) in seconds. */
export function durationSecs(d: { secs: number; nanos: number } | undefined): number {
  return d ? d.secs + d.nanos / 1e9 : 0;
}
