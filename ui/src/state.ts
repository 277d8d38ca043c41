// The in-call view model, built from engine events by a pure reducer
// (unit-tested in tests/state.test.ts). The DOM code only renders it.

export type Quality = "good" | "fair" | "poor";

export interface ParticipantStats {
  id: number;
  rtt_ms: number;
  loss: number;
  jitter_ms: number;
  bitrate_in_bps: number;
  audio_codec: string | null;
  resolution: [number, number] | null;
  fps: number;
  muted: boolean;
  quality: Quality;
}

export interface CallStats {
  active_for: { secs: number; nanos: number };
  bitrate_out_bps: number;
  /** The echo canceller's own estimate, dB (null: off or not converged yet). */
  echo_erle_db: number | null;
  relay: string;
  reconnects: number;
  participants: ParticipantStats[];
}

export interface EndReason {
  reason: string;
  message?: string;
}

/** Engine events as the shell forwards them (wzp_engine::Event, tagged by `event`). */
export type EngineEvent =
  | { event: "state"; state: string; attempt?: number; reason?: EndReason }
  | { event: "participant_joined"; id: number; fingerprint: string; alias: string | null }
  | { event: "participant_left"; id: number }
  | { event: "speaking"; local: number; remote: [number, number, boolean][] }
  | { event: "verification"; id: number; fingerprint: string; short_code: string; safety_number: string }
  | ({ event: "stats" } & CallStats)
  | { event: "relay_connected"; address: string; fingerprint: string }
  | { event: "ringing"; call_id: string }
  | { event: "warning"; message: string };

export interface Participant {
  id: number;
  fingerprint: string;
  alias: string | null;
  level: number;
  speaking: boolean;
  muted: boolean;
  quality: Quality | null;
  shortCode: string | null;
  safetyNumber: string | null;
  stats: ParticipantStats | null;
}

export interface CallInfo {
  call_no: number;
  target: string;
  direction: "room" | "placed" | "received" | "missed";
  relay: string;
  /** Whether the call has a video source (else the camera button is disabled). */
  video: boolean;
  /** The microphone starts muted (push-to-talk). */
  muted?: boolean;
  /** The camera is open and sending from the start (false: started with it off). */
  camera?: boolean;
}

export interface CallView {
  info: CallInfo;
  state: string;
  attempt: number;
  endReason: EndReason | null;
  participants: Participant[];
  localLevel: number;
  muted: boolean;
  camera: boolean;
  stats: CallStats | null;
  relayFingerprint: string | null;
  warnings: string[];
}

export function newCall(info: CallInfo): CallView {
  return {
    info,
    state: "connecting",
    attempt: 0,
    endReason: null,
    participants: [],
    localLevel: 0,
    muted: info.muted ?? false,
    camera: info.video && (info.camera ?? true),
    stats: null,
    relayFingerprint: null,
    warnings: [],
  };
}

function blankParticipant(id: number): Participant {
  return {
    id,
    fingerprint: "",
    alias: null,
    level: 0,
    speaking: false,
    muted: false,
    quality: null,
    shortCode: null,
    safetyNumber: null,
    stats: null,
  };
}

function upsert(list: Participant[], id: number, f: (p: Participant) => Participant): Participant[] {
  const i = list.findIndex((p) => p.id === id);
  if (i < 0) return [...list, f(blankParticipant(id))].sort((a, b) => a.id - b.id);
  const next = list.slice();
  next[i] = f(list[i]);
  return next;
}

/** The view after one event. Never mutates `v`. Events for ids not present are ignored
 * (except joins and verifications, which may arrive first). */
export function applyEvent(v: CallView, e: EngineEvent): CallView {
  switch (e.event) {
    case "state":
      if (v.state === "ended") return v;
      return {
        ...v,
        state: e.state,
        attempt: e.state === "reconnecting" ? (e.attempt ?? v.attempt + 1) : v.attempt,
        endReason: e.state === "ended" ? (e.reason ?? { reason: "failed" }) : v.endReason,
        participants: e.state === "ended" ? v.participants.map((p) => ({ ...p, speaking: false, level: 0 })) : v.participants,
      };
    case "participant_joined":
      return {
        ...v,
        participants: upsert(v.participants, e.id, (p) => ({ ...p, fingerprint: e.fingerprint, alias: e.alias })),
      };
    case "participant_left":
      return { ...v, participants: v.participants.filter((p) => p.id !== e.id) };
    case "speaking": {
      const levels = new Map(e.remote.map(([id, level, speaking]) => [id, { level, speaking }]));
      return {
        ...v,
        localLevel: v.muted ? 0 : e.local,
        participants: v.participants.map((p) => {
          const l = levels.get(p.id);
          return l ? { ...p, level: l.level, speaking: l.speaking } : { ...p, level: 0, speaking: false };
        }),
      };
    }
    case "verification":
      return {
        ...v,
        participants: upsert(v.participants, e.id, (p) => ({
          ...p,
          fingerprint: p.fingerprint || e.fingerprint,
          shortCode: e.short_code,
          safetyNumber: e.safety_number,
        })),
      };
    case "stats": {
      const { event: _tag, ...stats } = e;
      const byId = new Map(stats.participants.map((p) => [p.id, p]));
      return {
        ...v,
        stats,
        participants: v.participants.map((p) => {
          const ps = byId.get(p.id);
          return ps ? { ...p, stats: ps, quality: ps.quality, muted: ps.muted } : p;
        }),
      };
    }
    case "relay_connected":
      return { ...v, relayFingerprint: e.fingerprint };
    case "warning":
      return { ...v, warnings: [...v.warnings, e.message].slice(-5) };
    case "ringing":
      return { ...v, state: v.state === "connecting" ? "ringing" : v.state };
    default:
      return v;
  }
}

export function setMuted(v: CallView, muted: boolean): CallView {
  return { ...v, muted, localLevel: muted ? 0 : v.localLevel };
}

export function setCamera(v: CallView, camera: boolean): CallView {
  return { ...v, camera };
}

/** Whether the call is over (controls disabled, back to home offered). */
export function isOver(v: CallView): boolean {
  return v.state === "ended";
}

/** The name to show for a participant. */
export function displayName(p: Participant, shortFp: (fp: string) => string): string {
  return p.alias?.trim() || shortFp(p.fingerprint) || `#${p.id}`;
}

/** Participants whose video is arriving (they get a tile in the video area). */
export function videoParticipants(v: CallView): Participant[] {
  if (isOver(v)) return [];
  return v.participants.filter((p) => p.stats?.resolution != null);
}

/** A rectangle as getBoundingClientRect gives it. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What the shell needs to place the native video view: the area and one rect per tile. */
export interface VideoLayout {
  area: Box | null;
  tiles: { participant: number; rect: Box }[];
}

/** A stable key for a layout, so it is only sent when it changed (rounded to 1 px). */
export function layoutKey(l: VideoLayout): string {
  const r = (b: Box | null) => (b ? [b.x, b.y, b.width, b.height].map(Math.round).join(",") : "none");
  return `${r(l.area)}|${l.tiles.map((t) => `${t.participant}:${r(t.rect)}`).join(";")}`;
}
