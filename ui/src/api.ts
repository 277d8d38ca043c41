// Typed wrappers around the shell's commands and events (src-tauri/src/commands.rs).
// Command and argument names here are the contract with the Rust side.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { Contact } from "./contacts";
import type { ListenerStatus, Offer, OfferEnded } from "./incoming";
import type { Opened } from "./links";
import type { StorageInfo } from "./passphrase";
import type { PingResult, RelayView } from "./relays";
import type { CallInfo, CallStats, EndReason, EngineEvent, VideoLayout } from "./state";

export interface IdentityInfo {
  fingerprint: string;
}

export interface RelayEntry {
  name: string;
  address: string;
  fingerprint: string | null;
}

export interface Settings {
  alias: string | null;
  relays: RelayEntry[];
  last_room: string | null;
  audio_input: string | null;
  audio_output: string | null;
  /** Camera id, or null for the first camera. */
  camera: string | null;
  theme: string;
  receive_calls: boolean;
  receive_relay: string | null;
  voice: VoiceSettings;
  call_notifications: boolean;
  push_to_talk_background: boolean;
  camera_off_at_start: boolean;
  /** Push-to-talk key (KeyboardEvent.code), or null for an open microphone. */
  push_to_talk: string | null;
}

/** Microphone processing stages (all on by default). */
export interface VoiceSettings {
  echo_cancellation: boolean;
  noise_suppression: boolean;
  gain_control: boolean;
}

export interface HistoryPeer {
  fingerprint: string;
  alias: string | null;
}

export interface HistoryEntry {
  target: string;
  direction: "room" | "placed" | "received" | "missed";
  relay: string;
  started_unix: number;
  duration_secs: number;
  participants: HistoryPeer[];
  end_reason: string;
}

export interface CorruptFile {
  path: string;
  moved_to: string;
  error: string;
}

export interface HostInfo {
  local_address: string;
  share_addresses: string[];
  fingerprint: string;
}

export interface AppStatus {
  identity: IdentityInfo | null;
  identity_error: { kind: string; message: string } | null;
  storage: StorageInfo;
  settings: Settings;
  history: { entries: HistoryEntry[] };
  notices: CorruptFile[];
  call_no: number | null;
  host: HostInfo | null;
  data_dir: string;
  listener: ListenerStatus;
  /** A wzp:// link opened before the UI was ready (handed over once). */
  link: Opened | null;
  incoming: Offer | null;
  contacts: { contacts: Contact[] };
}

export interface Device {
  id: string;
  name: string;
  direction: "input" | "output";
  is_default: boolean;
}

export interface CallEnded {
  call_no: number;
  reason: EndReason;
  entry: HistoryEntry;
}

export const api = {
  status: () => invoke<AppStatus>("app_status"),
  beginCreate: () => invoke<string[]>("identity_begin_create"),
  confirmCreate: (words: string[]) => invoke<IdentityInfo>("identity_confirm_create", { words }),
  restore: (phrase: string) => invoke<IdentityInfo>("identity_restore", { phrase }),
  identityWords: () => invoke<string[]>("identity_words"),
  usePassphraseFile: (passphrase: string) => invoke<StorageInfo>("identity_use_passphrase_file", { passphrase }),
  unlock: (passphrase: string) => invoke<IdentityInfo>("identity_unlock", { passphrase }),
  pttWatch: (key: string | null) => invoke<void>("ptt_watch", { key }),
  changePassphrase: (current: string, passphrase: string) =>
    invoke<StorageInfo>("identity_change_passphrase", { current, passphrase }),
  moveToFile: (passphrase: string) => invoke<StorageInfo>("identity_move_to_file", { passphrase }),
  moveToSecretStore: (passphrase: string) => invoke<StorageInfo>("identity_move_to_secret_store", { passphrase }),
  saveSettings: (settings: Settings) => invoke<void>("save_settings", { settings }),
  joinRoom: (relay: string, relayFingerprint: string | null, room: string) =>
    invoke<CallInfo>("join_room", { relay, relayFingerprint, room }),
  callFingerprint: (relay: string, relayFingerprint: string | null, fingerprint: string) =>
    invoke<CallInfo>("call_fingerprint", { relay, relayFingerprint, fingerprint }),
  answerCall: (id: number, accept: boolean) => invoke<CallInfo | null>("answer_call", { id, accept }),
  addContact: (name: string, fingerprint: string, verified: boolean | null = null) =>
    invoke<Contact>("add_contact", { name, fingerprint, verified }),
  setContactVerified: (fingerprint: string, verified: boolean) =>
    invoke<Contact>("set_contact_verified", { fingerprint, verified }),
  removeContact: (fingerprint: string) => invoke<void>("remove_contact", { fingerprint }),
  relayList: () => invoke<RelayView[]>("relay_list"),
  relayAdd: (name: string, address: string, fingerprint: string | null) =>
    invoke<RelayView[]>("relay_add", { name, address, fingerprint }),
  relayRemove: (address: string) => invoke<RelayView[]>("relay_remove", { address }),
  relayTrust: (address: string, fingerprint: string) => invoke<RelayView[]>("relay_trust", { address, fingerprint }),
  relayPing: (address: string) => invoke<PingResult>("relay_ping", { address }),
  hangUp: () => invoke<void>("hang_up"),
  mute: (on: boolean) => invoke<void>("mute", { on }),
  /** Camera on (opening `id`, null: the settings' camera) or off (closing it). */
  camera: (on: boolean, id: string | null) => invoke<void>("camera", { on, id }),
  notifyLabels: (labels: Record<string, string>) => invoke<void>("notify_labels", { labels }),
  traySet: (labels: Record<string, string> | null, inCall: boolean, muted: boolean) =>
    invoke<void>("tray_set", { labels, inCall, muted }),
  setAudioDevice: (direction: "input" | "output", id: string | null) =>
    invoke<void>("set_audio_device", { direction, id }),
  stats: () => invoke<CallStats>("stats"),
  hostStart: () => invoke<HostInfo>("host_start"),
  hostStop: () => invoke<void>("host_stop"),
  clearHistory: () => invoke<void>("clear_history"),
  listAudioDevices: () => invoke<Device[]>("list_audio_devices"),
  listCameras: () => invoke<Camera[]>("list_cameras"),
  cameraPreviewStart: (id: string | null) => invoke<number>("camera_preview_start", { id }),
  cameraPreviewStop: () => invoke<void>("camera_preview_stop"),
  setCamera: (id: string | null) => invoke<void>("set_camera", { id }),
  /** Starts the settings screen's microphone test; its number is in its `mic-level` events. */
  micTestStart: (id: string | null) => invoke<number>("mic_test_start", { id }),
  micTestStop: () => invoke<void>("mic_test_stop"),
  /** Plays the test sound; resolves once it has played. */
  playTestSound: (id: string | null) => invoke<void>("play_test_sound", { id }),
  videoLayout: (layout: VideoLayout) => invoke<void>("video_layout", { area: layout.area, tiles: layout.tiles }),
};

/** A microphone test's level (0..1, ~10 a second), or its end (`stopped`, with `error`
 * when the device failed). Sent by src-tauri/src/devtest.rs. */
export interface MicLevelEvent {
  test: number;
  level?: number;
  peak?: number;
  stopped: boolean;
  error: string | null;
}

/** A camera as the settings list it. */
export interface Camera {
  id: string;
  name: string;
}

/** The camera preview stopped on its own (error says why) or as asked. */
export interface PreviewStopped {
  preview: number;
  error: string | null;
}

export function onPreviewStopped(f: (e: PreviewStopped) => void): Promise<UnlistenFn> {
  return listen<PreviewStopped>("camera-preview-stopped", (m) => f(m.payload));
}

export function onMicLevel(f: (e: MicLevelEvent) => void): Promise<UnlistenFn> {
  return listen<MicLevelEvent>("mic-level", (m) => f(m.payload));
}

export function onCallEvent(f: (callNo: number, e: EngineEvent) => void): Promise<UnlistenFn> {
  return listen<{ call_no: number; event: EngineEvent }>("call-event", (m) => f(m.payload.call_no, m.payload.event));
}

/** The push-to-talk key, read system-wide while [`api.pttWatch`] watches it (true: held). */
export function onPttKey(f: (held: boolean) => void): Promise<UnlistenFn> {
  return listen<boolean>("ptt-key", (m) => f(m.payload));
}

export function onCallEnded(f: (e: CallEnded) => void): Promise<UnlistenFn> {
  return listen<CallEnded>("call-ended", (m) => f(m.payload));
}

export function onAppError(f: (e: { kind: string; message: string }) => void): Promise<UnlistenFn> {
  return listen<{ kind: string; message: string }>("app-error", (m) => f(m.payload));
}

export function onLink(f: (o: Opened) => void): Promise<UnlistenFn> {
  return listen<Opened>("link", (m) => f(m.payload));
}

export function onTrayAction(f: (action: "mute" | "hang_up") => void): Promise<UnlistenFn> {
  return listen<"mute" | "hang_up">("tray-action", (m) => f(m.payload));
}

/** Accept or Decline pressed on the desktop notification of ringing call `id`. */
export function onNotificationAction(f: (e: { id: number; action: "accept" | "decline" }) => void): Promise<UnlistenFn> {
  return listen<{ id: number; action: "accept" | "decline" }>("notification-action", (m) => f(m.payload));
}

export function onListenerState(f: (st: ListenerStatus) => void): Promise<UnlistenFn> {
  return listen<ListenerStatus>("listener-state", (m) => f(m.payload));
}

export function onIncomingCall(f: (o: Offer) => void): Promise<UnlistenFn> {
  return listen<Offer>("incoming-call", (m) => f(m.payload));
}

export function onIncomingEnded(f: (e: OfferEnded) => void): Promise<UnlistenFn> {
  return listen<OfferEnded>("incoming-ended", (m) => f(m.payload));
}
