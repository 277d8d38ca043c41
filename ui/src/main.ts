// WZP Desktop UI: vanilla TypeScript, no framework. One `render()` redraws the current
// screen from `model`; pure logic (state reducer, formatting, backup check, shortcuts)
// lives in modules with unit tests. Strings come from strings.ts only.
import "./style.css";
import ringUrl from "./assets/ring.wav?inline";
import {
  api,
  onAppError,
  onCallEnded,
  onCallEvent,
  onIncomingCall,
  onIncomingEnded,
  onLink,
  onListenerState,
  onNotificationAction,
  onMicLevel,
  onPttKey,
  onPreviewStopped,
  onTrayAction,
  type AppStatus,
  type Camera,
  type Device,
  type HostInfo,
} from "./api";
import { callerName, historyTitle, listenerText, offerEndedNotice, type ListenerStatus, type Offer } from "./incoming";
import { checkAnswers, pickPositions, splitPhrase } from "./confirm";
import { checkNewRelay, keyForDisplay, pingText, type PingState, type RelayView } from "./relays";
import { applyMicLevel, deviceOptions, micLevelText, micTestIdle, type MicTest } from "./devices";
import { checkNewContact, defaultContactName, findContact, type Contact } from "./contacts";
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
} from "./format";
import {
  checkNewPassphrase,
  needsPassphraseFile,
  shownByScreen,
  startScreen,
  storageText,
  type PassphraseProblem,
} from "./passphrase";
import { shortcutFor } from "./shortcuts";
import { isPttKey, micMuted, pttKeyName, pttKeyOf, RELEASE_DELAY_MS } from "./ptt";
import { linkForm, type Link, type Opened } from "./links";
import {
  applyEvent,
  displayName,
  isOver,
  layoutKey,
  newCall,
  setCamera,
  setMuted,
  videoParticipants,
  type Box,
  type CallView,
  type EngineEvent,
  type VideoLayout,
} from "./state";
import { s } from "./strings";

type Screen =
  | { name: "loading" }
  | { name: "welcome" }
  | { name: "backup"; words: string[] }
  | { name: "confirm"; words: string[]; positions: number[]; mismatch: boolean }
  | { name: "restore"; error: string | null; forgot?: boolean }
  | { name: "passphrase"; error: string | null }
  | { name: "unlock"; error: string | null }
  | { name: "forgot" }
  | { name: "home" }
  | { name: "call" };

interface Banner {
  text: string;
  detail?: string;
  kind: "error" | "warning" | "info";
}

const model: {
  screen: Screen;
  status: AppStatus | null;
  call: CallView | null;
  host: HostInfo | null;
  banners: Banner[];
  showStats: boolean;
  busy: boolean;
  devices: Device[] | null;
  backupWords: string[] | null;
  settingsNote: string | null;
  /** The identity storage card's open form (change the file's passphrase, move the
   * identity into the file or into the secret store): null while closed, else which
   * and its error (null: none). */
  storageForm: { kind: StorageFormKind; error: string | null } | null;
  /** Said once a storage form succeeded. */
  storageNote: string | null;
  /** The call ringing now (shown over every other screen). */
  incoming: Offer | null;
  listener: ListenerStatus | null;
  /** Why the last "add contact" was refused (shown under the form). */
  contactError: string | null;
  /** The contact being renamed (its fingerprint) and why the last rename was refused. */
  renaming: { fingerprint: string; error: string | null } | null;
  /** Devices picked for the running call, and what the last switch did. */
  callDevices: { input: string | null; output: string | null; camera: string | null; note: string | null };
  /** A wzp:// link waiting to fill in the home screen's forms. */
  pendingLink: Link | null;
  /** Devices picked in the settings card but not saved yet ("" is the system default):
   * the microphone test and the test sound use them, and redraws keep them. */
  draftDevices: { input?: string; output?: string };
  /** The settings card's microphone test, and whether one is being started. */
  micTest: MicTest;
  micTestStarting: boolean;
  /** The test sound is playing (its button waits). */
  soundPlaying: boolean;
  /** The relay list (null until loaded), each relay's last ping, the address whose
   * removal waits for confirmation, why the last "add relay" was refused, and a
   * changed relay key waiting for the user's decision. */
  relays: RelayView[] | null;
  pings: Record<string, PingState>;
  relayRemoving: string | null;
  relayError: string | null;
  keyChange: { address: string; name: string; pinned: string; presented: string } | null;
  /** The settings card waits for the push-to-talk key to be pressed; the key chosen
   * but not saved yet (null: off; undefined: as saved). */
  pttCapture: boolean;
  draftPtt: string | null | undefined;
  /** Cameras (null until listed), the camera picked but not saved ("" is the first
   * one; undefined: as saved), and the running camera preview's number. */
  cameras: Camera[] | null;
  draftCamera: string | undefined;
  preview: number | null;
} = {
  screen: { name: "loading" },
  status: null,
  call: null,
  host: null,
  banners: [],
  showStats: false,
  busy: false,
  devices: null,
  backupWords: null,
  settingsNote: null,
  storageForm: null,
  storageNote: null,
  incoming: null,
  listener: null,
  contactError: null,
  renaming: null,
  pendingLink: null,
  callDevices: { input: null, output: null, camera: null, note: null },
  draftDevices: {},
  micTest: micTestIdle,
  micTestStarting: false,
  soundPlaying: false,
  relays: null,
  pings: {},
  relayRemoving: null,
  relayError: null,
  keyChange: null,
  pttCapture: false,
  draftPtt: undefined,
  cameras: null,
  draftCamera: undefined,
  preview: null,
};

function contactList(): Contact[] {
  return model.status?.contacts.contacts ?? [];
}

/** Puts a saved or changed contact into the model (sorted by name, like the file). */
function keepContact(c: Contact): void {
  if (!model.status) return;
  const rest = model.status.contacts.contacts.filter((x) => x.fingerprint !== c.fingerprint);
  model.status.contacts.contacts = [...rest, c].sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
}

/** Saves someone seen in a call (optionally marking them verified). */
function saveFromCall(fp: string, alias: string | null, verified: boolean | null): void {
  const existing = findContact(contactList(), fp);
  const name = existing?.name ?? defaultContactName(fp, alias);
  guarded(async () => {
    keepContact(await api.addContact(name, fp, verified));
    if (!existing) addBanner({ text: s.contactSaved(name), kind: "info" });
  });
}

// The ringing sound (assets/ring.wav, made by scripts/make-ring.py), looped while a call
// rings. Inlined as a data: URL: WebKitGTK cannot play media from the app's tauri://
// scheme (tauri-apps/tauri#3725). A machine without a sound output stays silent.
let ringer: HTMLAudioElement | null = null;

function ring(on: boolean): void {
  if (on) {
    ringer ??= Object.assign(new Audio(ringUrl), { loop: true });
    ringer.currentTime = 0;
    const r = ringer;
    // data-ring-sound says whether it really plays (the end-to-end test checks it).
    r.play().then(
      () => { document.body.dataset.ringSound = `playing ${r.duration.toFixed(2)}`; },
      (e) => {
        console.warn("ringing sound", e);
        document.body.dataset.ringSound = `failed ${e instanceof Error ? e.name : String(e)}`;
      },
    );
  } else if (ringer) {
    ringer.pause();
    document.body.dataset.ringSound = "stopped";
  }
  document.body.dataset.ringing = on ? "true" : "false";
}

function showIncoming(o: Offer | null): void {
  const was = model.incoming;
  model.incoming = o;
  ring(o !== null);
  render();
  // Focus Accept when the call starts ringing, so Enter answers it.
  if (o && was?.id !== o.id) document.getElementById("accept-call")?.focus();
}

function answer(accept: boolean): void {
  const o = model.incoming;
  if (!o) return;
  guarded(async () => {
    try {
      const info = await api.answerCall(o.id, accept);
      if (info) enterCall(info);
    } finally {
      if (model.incoming?.id === o.id) {
        model.incoming = null;
        ring(false);
      }
    }
  });
}

/** Applies the theme preference ("system" follows the OS). */
function applyTheme(theme: string | undefined): void {
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

const root = document.getElementById("app") as HTMLElement;

// --- tiny DOM helper -------------------------------------------------------------

type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>;

function h(tag: string, attrs: Attrs = {}, ...children: (Node | string | null | undefined | false)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function field(id: string, label: string, attrs: Attrs = {}): HTMLElement {
  return h("div", { class: "field" }, h("label", { for: id }, label), h("input", { id, name: id, ...attrs }));
}

function value(id: string): string {
  return (document.getElementById(id) as HTMLInputElement | null)?.value.trim() ?? "";
}

// --- actions ---------------------------------------------------------------------

function addBanner(b: Banner): void {
  if (model.banners.some((x) => x.text === b.text && x.detail === b.detail)) return;
  model.banners = [...model.banners.slice(-3), b];
}

function showError(e: unknown): void {
  const { text, detail } = describeError(e);
  addBanner({ text, detail, kind: "error" });
  render();
}

async function guarded(f: () => Promise<void>): Promise<void> {
  if (model.busy) return;
  model.busy = true;
  try {
    await f();
  } catch (e) {
    showError(e);
  } finally {
    model.busy = false;
    render();
  }
}

async function refreshStatus(): Promise<void> {
  const st = await api.status();
  model.status = st;
  model.host = st.host;
  model.listener = st.listener;
  for (const n of st.notices) addBanner({ text: s.corruptNotice(n.path, n.moved_to), detail: n.error, kind: "warning" });
  st.notices = [];
  if (st.identity_error && !shownByScreen(st.identity_error.kind)) {
    const { text, detail } = describeError(st.identity_error);
    addBanner({ text, detail, kind: "error" });
  }
}

async function start(): Promise<void> {
  api.notifyLabels(s.notification).catch((e) => console.warn("notification labels", e));
  try {
    await refreshStatus();
  } catch (e) {
    model.screen = { name: "welcome" };
    showError(e);
    return;
  }
  const st = model.status;
  applyTheme(st?.settings.theme);
  const first = st ? startScreen(st) : "welcome";
  model.screen = first === "unlock" ? { name: "unlock", error: null } : { name: first };
  if (st?.link) openLink(st.link);
  render();
  if (first === "unlock") document.getElementById("unlock-passphrase")?.focus();
  if (st?.incoming) showIncoming(st.incoming);
}

function incomingScreen(o: Offer): HTMLElement {
  const contact = findContact(contactList(), o.from);
  const name = callerName(o.from, o.alias, contact?.name ?? null);
  return h(
    "section",
    { id: "incoming", class: "card narrow incoming", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "incoming-title", "aria-describedby": "incoming-from" },
    h("h1", { id: "incoming-title" }, s.incomingTitle),
    h("p", { id: "incoming-from", class: "caller" }, s.incomingFrom(name)),
    h("dl", {},
      h("dt", {}, s.incomingFingerprint), h("dd", { class: "mono", id: "incoming-fingerprint" }, formatFingerprint(o.from)),
    ),
    h("p", { id: "incoming-contact", "data-verified": String(contact?.verified ?? false) },
      contact ? s.incomingContact(contact.name) : s.incomingUnknown,
      contact?.verified ? h("span", { class: "tag verified" }, ` ✓ ${s.incomingVerified}`) : null),
    h("p", { class: "hint" }, s.incomingVia(o.relay)),
    h(
      "div",
      { class: "row" },
      h("button", { id: "accept-call", class: "primary", "aria-keyshortcuts": "Enter A", disabled: model.busy, onclick: () => answer(true) }, s.accept),
      h("button", { id: "decline-call", class: "danger", "aria-keyshortcuts": "Escape D", disabled: model.busy, onclick: () => answer(false) }, s.decline),
    ),
    h("p", { class: "hint" }, s.incomingKeys),
  );
}

/** The running call's microphone: the user's own mute (button, M, tray), whether the
 * push-to-talk key is held, and the state last sent to the engine. */
const mic = {
  userMuted: false,
  held: false,
  sent: false,
  release: undefined as ReturnType<typeof setTimeout> | undefined,
};

function pttKey(): string | null {
  return model.status?.settings.push_to_talk ?? null;
}

/** Sends the microphone state that the user's mute and push-to-talk ask for, if it
 * differs from what was sent last. */
function applyMic(): void {
  const c = model.call;
  if (!c || isOver(c)) return;
  const want = micMuted(mic.userMuted, pttKey(), mic.held);
  if (want === mic.sent) return;
  mic.sent = want;
  api.mute(want).then(() => {
    if (model.call) model.call = setMuted(model.call, want);
    render();
  }, (e) => {
    mic.sent = !want;
    showError(e);
  });
}

function toggleMute(): void {
  const c = model.call;
  if (!c || isOver(c)) return;
  mic.userMuted = !mic.userMuted;
  applyMic();
  render();
}

/** Whether the push-to-talk key is being read system-wide (the window's blur then does
 * not release it: the watch sees the real key). */
let pttWatching = false;

/** Starts (or stops) reading the push-to-talk key system-wide for the call, when the
 * user asked for it in the settings. Where it cannot be read, a warning says the key
 * works only while the window has the focus. */
function watchPttKey(on: boolean): void {
  const st = model.status?.settings;
  const key = on && st?.push_to_talk_background ? pttKey() : null;
  if (!key && !pttWatching) return;
  pttWatching = key !== null;
  api.pttWatch(key).catch((e) => {
    pttWatching = false;
    addBanner({ text: s.pttBackgroundFailed, detail: describeError(e).detail, kind: "warning" });
    render();
  });
}

/** The push-to-talk key went down (true) or up (false) in the call. */
function pttHeld(down: boolean): void {
  clearTimeout(mic.release);
  if (down) {
    if (mic.held) return;
    mic.held = true;
    applyMic();
    render();
  } else if (mic.held) {
    mic.release = setTimeout(() => {
      mic.held = false;
      applyMic();
      render();
    }, RELEASE_DELAY_MS);
  }
}

function toggleCamera(): void {
  const c = model.call;
  if (!c || isOver(c) || !c.info.video) return;
  const on = !c.camera;
  api.camera(on, model.callDevices.camera).then(() => {
    if (model.call) model.call = setCamera(model.call, on);
    render();
  }, showError);
}

function hangUp(): void {
  if (!model.call || isOver(model.call)) return;
  api.hangUp().catch(showError);
}

// --- screens ---------------------------------------------------------------------

function welcome(): HTMLElement {
  const st = model.status;
  if (st && needsPassphraseFile(st)) {
    // No secret store: say so, and offer the passphrase file instead of an identity
    // that could not be kept.
    return h(
      "section",
      { class: "card narrow", "aria-labelledby": "welcome-title" },
      h("h1", { id: "welcome-title" }, s.welcomeTitle),
      h("p", { id: "no-secret-store" }, s.noStoreBody),
      h(
        "div",
        { class: "row" },
        h("button", {
          id: "use-passphrase-file",
          class: "primary",
          onclick: () => { model.screen = { name: "passphrase", error: null }; render(); },
        }, s.usePassphraseFile),
      ),
    );
  }
  const file = st?.storage.kind === "passphrase_file" ? st.storage.path : null;
  return h(
    "section",
    { class: "card narrow", "aria-labelledby": "welcome-title" },
    h("h1", { id: "welcome-title" }, s.welcomeTitle),
    h("p", {}, file ? s.welcomeBodyFile : s.welcomeBody),
    file ? h("p", { id: "passphrase-file-chosen" }, s.fileChosen(file)) : null,
    h(
      "div",
      { class: "row" },
      h("button", {
        id: "create-identity",
        class: "primary",
        onclick: () =>
          guarded(async () => {
            model.screen = { name: "backup", words: await api.beginCreate() };
          }),
      }, s.createIdentity),
      h("button", { id: "restore-identity", onclick: () => { model.screen = { name: "restore", error: null }; render(); } }, s.restoreIdentity),
    ),
  );
}

/**
 * A passphrase input, never trimmed, never remembered or corrected by the browser. No
 * `minlength`: the browser's own bubble would stop the submit before our sentence shows.
 */
function passphraseField(id: string, label: string, attrs: Attrs = {}): HTMLElement {
  return field(id, label, { type: "password", autocomplete: "off", autocapitalize: "off", spellcheck: "false", required: true, ...attrs });
}

/** A password input's exact value (spaces count). */
function rawValue(id: string): string {
  return (document.getElementById(id) as HTMLInputElement | null)?.value ?? "";
}

function minChars(): number {
  return model.status?.storage.min_passphrase_chars ?? 8;
}

function passphraseProblemText(p: PassphraseProblem): string | null {
  if (p === "too_short") return s.passphraseTooShort(minChars());
  if (p === "mismatch") return s.passphraseMismatch;
  return null;
}

/** Choosing the passphrase file (no secret store): then on to create or restore. */
function passphraseScreen(sc: Extract<Screen, { name: "passphrase" }>): HTMLElement {
  const submit = (e: Event) => {
    e.preventDefault();
    const pass = rawValue("new-passphrase");
    const problem = passphraseProblemText(checkNewPassphrase(pass, rawValue("new-passphrase-again"), minChars()));
    if (problem) {
      model.screen = { name: "passphrase", error: problem };
      render();
      return;
    }
    guarded(async () => {
      await api.usePassphraseFile(pass);
      await refreshStatus();
      model.screen = { name: "welcome" };
    });
  };
  return h(
    "form",
    { class: "card narrow", "aria-labelledby": "passphrase-title", "aria-describedby": "passphrase-body", onsubmit: submit },
    h("h1", { id: "passphrase-title" }, s.passphraseTitle),
    h("p", { id: "passphrase-body" }, s.passphraseBody(minChars())),
    passphraseField("new-passphrase", s.passphraseLabel, { "aria-invalid": sc.error ? "true" : undefined, "aria-describedby": sc.error ? "passphrase-error" : undefined }),
    passphraseField("new-passphrase-again", s.passphraseAgainLabel),
    sc.error ? h("p", { id: "passphrase-error", class: "error", role: "alert" }, sc.error) : null,
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", onclick: () => { model.screen = { name: "welcome" }; render(); } }, s.back),
      h("button", { id: "passphrase-submit", type: "submit", class: "primary", disabled: model.busy }, s.passphraseContinue),
    ),
  );
}

/** The identity file waits for its passphrase (each start, when the user chose the file). */
function unlockScreen(sc: Extract<Screen, { name: "unlock" }>): HTMLElement {
  const submit = (e: Event) => {
    e.preventDefault();
    const pass = rawValue("unlock-passphrase");
    if (pass.length === 0) return;
    guarded(async () => {
      render(); // shows "Unlocking…" and disables the button: Argon2 takes about a second
      try {
        await api.unlock(pass);
      } catch (err) {
        // Wrong passphrase or a bad file: said on this screen, in words, not as a banner.
        model.screen = { name: "unlock", error: describeError(err).text };
        render();
        const input = document.getElementById("unlock-passphrase") as HTMLInputElement | null;
        if (input) {
          input.value = "";
          input.focus();
        }
        return;
      }
      await refreshStatus();
      model.screen = { name: "home" };
    });
  };
  return h(
    "form",
    { class: "card narrow", "aria-labelledby": "unlock-title", "aria-describedby": "unlock-body", "aria-busy": model.busy ? "true" : "false", onsubmit: submit },
    h("h1", { id: "unlock-title" }, s.unlockTitle),
    h("p", { id: "unlock-body" }, s.unlockBody),
    passphraseField("unlock-passphrase", s.passphraseLabel, { "aria-invalid": sc.error ? "true" : undefined, "aria-describedby": sc.error ? "unlock-error" : undefined }),
    sc.error ? h("p", { id: "unlock-error", class: "error", role: "alert" }, sc.error) : null,
    model.busy ? h("p", { role: "status" }, s.unlocking) : null,
    h(
      "div",
      { class: "row" },
      h("button", { id: "unlock-submit", type: "submit", class: "primary", disabled: model.busy }, s.unlockButton),
      h("button", { id: "forgot-passphrase", type: "button", onclick: () => { model.screen = { name: "forgot" }; render(); } }, s.forgotPassphrase),
    ),
  );
}

/** Asks before a forgotten passphrase's file is replaced by restoring the 24 words. */
function forgotScreen(): HTMLElement {
  return h(
    "section",
    { class: "card narrow", role: "alertdialog", "aria-labelledby": "forgot-title", "aria-describedby": "forgot-body" },
    h("h1", { id: "forgot-title" }, s.forgotTitle),
    h("p", { id: "forgot-body" }, s.forgotBody),
    h(
      "div",
      { class: "row" },
      h("button", { onclick: () => { model.screen = { name: "unlock", error: null }; render(); } }, s.back),
      h("button", {
        id: "forgot-continue",
        class: "danger",
        onclick: () => { model.screen = { name: "restore", error: null, forgot: true }; render(); },
      }, s.forgotContinue),
    ),
  );
}

function backup(words: string[]): HTMLElement {
  return h(
    "section",
    { class: "card narrow", "aria-labelledby": "backup-title" },
    h("h1", { id: "backup-title" }, s.backupTitle),
    h("p", {}, s.backupBody),
    h("ol", { id: "backup-words", class: "words", "aria-label": s.backupTitle }, ...words.map((w) => h("li", {}, w))),
    h(
      "div",
      { class: "row" },
      h("button", { onclick: () => { model.screen = { name: "welcome" }; render(); } }, s.back),
      h("button", {
        id: "backup-written",
        class: "primary",
        onclick: () => {
          model.screen = { name: "confirm", words, positions: pickPositions(words.length, 3), mismatch: false };
          render();
        },
      }, s.backupWritten),
    ),
  );
}

function confirmScreen(sc: Extract<Screen, { name: "confirm" }>): HTMLElement {
  const submit = (e: Event) => {
    e.preventDefault();
    const answers = sc.positions.map((p) => value(`confirm-word-${p}`));
    if (!checkAnswers(sc.words, sc.positions, answers)) {
      model.screen = { ...sc, mismatch: true };
      render();
      return;
    }
    guarded(async () => {
      await api.confirmCreate(sc.words);
      await refreshStatus();
      model.screen = { name: "home" };
    });
  };
  return h(
    "form",
    { class: "card narrow", "aria-labelledby": "confirm-title", onsubmit: submit },
    h("h1", { id: "confirm-title" }, s.confirmTitle),
    h("p", {}, s.confirmBody(sc.positions)),
    ...sc.positions.map((p) =>
      field(`confirm-word-${p}`, s.confirmWordLabel(p), { "data-pos": p, autocomplete: "off", autocapitalize: "off", spellcheck: "false", required: true }),
    ),
    sc.mismatch ? h("p", { class: "error", role: "alert" }, s.confirmMismatch) : null,
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", onclick: () => { model.screen = { name: "backup", words: sc.words }; render(); } }, s.back),
      h("button", { id: "confirm-submit", type: "submit", class: "primary" }, s.confirmButton),
    ),
  );
}

function restoreScreen(sc: Extract<Screen, { name: "restore" }>): HTMLElement {
  const forgot = sc.forgot === true;
  const again = (error: string) => {
    model.screen = { ...sc, error };
    render();
  };
  const submit = (e: Event) => {
    e.preventDefault();
    const words = splitPhrase((document.getElementById("restore-words") as HTMLTextAreaElement).value);
    if (words.length !== 24) return again(s.restoreWrongCount(words.length));
    // After a forgotten passphrase: a new one for the new file, checked before anything is sent.
    const pass = forgot ? rawValue("restore-passphrase") : "";
    if (forgot) {
      const problem = passphraseProblemText(checkNewPassphrase(pass, rawValue("restore-passphrase-again"), minChars()));
      if (problem) return again(problem);
    }
    guarded(async () => {
      if (forgot) await api.usePassphraseFile(pass);
      await api.restore(words.join(" "));
      await refreshStatus();
      model.screen = { name: "home" };
    });
  };
  const back = () => {
    model.screen = forgot ? { name: "unlock", error: null } : { name: "welcome" };
    render();
  };
  return h(
    "form",
    { class: "card narrow", "aria-labelledby": "restore-title", onsubmit: submit },
    h("h1", { id: "restore-title" }, s.restoreTitle),
    forgot ? h("p", {}, s.forgotRestoreBody) : null,
    h("label", { for: "restore-words" }, s.restoreLabel),
    h("textarea", { id: "restore-words", rows: 4, autocomplete: "off", spellcheck: "false", required: true }),
    forgot ? passphraseField("restore-passphrase", s.passphraseLabel) : null,
    forgot ? passphraseField("restore-passphrase-again", s.passphraseAgainLabel) : null,
    sc.error ? h("p", { class: "error", role: "alert" }, sc.error) : null,
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", onclick: back }, s.back),
      h("button", { id: "restore-submit", type: "submit", class: "primary", disabled: model.busy }, s.restoreButton),
    ),
  );
}

function copyButton(text: string): HTMLElement {
  const b = h("button", { class: "small", "aria-label": `${s.copy} ${text}` }, s.copy);
  b.addEventListener("click", () => {
    navigator.clipboard?.writeText(text).then(() => { b.textContent = s.copied; }, () => undefined);
  });
  return b;
}

// Events can arrive before the command that started the call has returned its number:
// they wait here and are applied when the call view is created.
let early: { callNo: number; ev: EngineEvent }[] = [];

function enterCall(info: Awaited<ReturnType<typeof api.joinRoom>>): void {
  let v = newCall(info);
  for (const e of early) if (e.callNo === info.call_no) v = applyEvent(v, e.ev);
  early = [];
  stopMicTest();
  model.preview = null;
  model.backupWords = null;
  model.call = v;
  clearTimeout(mic.release);
  Object.assign(mic, { userMuted: false, held: false, sent: v.muted });
  model.screen = { name: "call" };
  watchPttKey(true);
  const st = model.status?.settings;
  model.callDevices = { input: st?.audio_input ?? null, output: st?.audio_output ?? null, camera: st?.camera ?? null, note: null };
  if (model.devices === null) {
    api.listAudioDevices().then((d) => { model.devices = d; render(); }, (e) => console.warn("devices", e));
  }
  if (model.cameras === null && info.video) {
    api.listCameras().then((d) => { model.cameras = d; render(); }, (e) => console.warn("cameras", e));
  }
}

let relaysRequested = false;

function home(): HTMLElement {
  if (!relaysRequested) {
    relaysRequested = true;
    queueMicrotask(loadRelays);
  }
  const st = model.status;
  const settings = st?.settings;
  const lastRelay = settings?.relays[0];
  const fp = st?.identity?.fingerprint ?? "";
  const join = (e: Event) => {
    e.preventDefault();
    const relay = value("relay-input");
    if (!isRelayAddress(relay)) return showError({ kind: "invalid_input", message: `relay: “${relay}” is not HOST:PORT` });
    guarded(async () => enterCall(await api.joinRoom(relay, value("relay-fp-input") || null, value("room-input"))));
  };
  const call = (e: Event) => {
    e.preventDefault();
    const relay = value("relay-input");
    const peer = value("peer-input");
    if (!isRelayAddress(relay)) return showError({ kind: "invalid_input", message: `relay: “${relay}” is not HOST:PORT` });
    if (!isFingerprint(peer)) return showError({ kind: "invalid_input", message: "fingerprint: 32 hex digits expected" });
    guarded(async () => enterCall(await api.callFingerprint(relay, value("relay-fp-input") || null, peer)));
  };
  const hostBox = model.host
    ? h(
        "div",
        { id: "host-info", role: "status" },
        h("p", {}, s.hostRunning),
        h("dl", {},
          h("dt", {}, s.hostLocal), h("dd", { class: "mono" }, model.host.local_address),
          ...(model.host.share_addresses.length ? [h("dt", {}, s.hostShare), h("dd", { class: "mono" }, model.host.share_addresses.join(", "))] : []),
          h("dt", {}, s.relayFingerprintLabel), h("dd", { class: "mono", id: "host-fingerprint" }, model.host.fingerprint),
        ),
        h("div", { class: "row" },
          h("button", {
            id: "host-use",
            onclick: () => {
              const hi = model.host;
              if (!hi) return;
              (document.getElementById("relay-input") as HTMLInputElement).value = hi.local_address;
              (document.getElementById("relay-fp-input") as HTMLInputElement).value = hi.fingerprint;
            },
          }, s.hostUseIt),
          h("button", { id: "host-stop", onclick: () => guarded(async () => { await api.hostStop(); model.host = null; }) }, s.hostStop),
        ),
      )
    : h("button", { id: "host-start", onclick: () => guarded(async () => { model.host = await api.hostStart(); }) }, s.hostStart);
  const entries = st?.history.entries ?? [];
  return h(
    "main",
    { class: "home", "aria-label": s.appName },
    model.keyChange ? keyChangeDialog(model.keyChange) : null,
    h(
      "section",
      { class: "card", "aria-labelledby": "me-title" },
      h("h2", { id: "me-title" }, s.yourFingerprint),
      h("p", { class: "mono", id: "fingerprint" }, formatFingerprint(fp), " ", copyButton(formatFingerprint(fp))),
      h("p", { id: "listener-status", role: "status", "data-state": model.listener?.state ?? "off", class: model.listener?.state === "retrying" ? "error" : "" },
        listenerText(model.listener, settings?.receive_calls ?? true)),
      h("form", { class: "row", onsubmit: (e: Event) => {
        e.preventDefault();
        const cur = model.status?.settings;
        if (!cur) return;
        const next = { ...cur, alias: value("alias-input") || null };
        guarded(async () => { await api.saveSettings(next); if (model.status) model.status.settings = next; });
      } },
        field("alias-input", s.nameLabel, { value: settings?.alias ?? "", maxlength: 64 }),
        h("button", { type: "submit" }, s.saveName),
      ),
    ),
    contactsCard(),
    relaysCard(),
    h(
      "form",
      { class: "card", "aria-labelledby": "join-title", onsubmit: join },
      h("h2", { id: "join-title" }, s.joinTitle),
      field("relay-input", s.relayLabel, { value: lastRelay?.address ?? "", placeholder: "relay.example.org:4433", required: true, spellcheck: "false" }),
      field("relay-fp-input", s.relayFingerprintLabel, { value: lastRelay?.fingerprint ?? "", spellcheck: "false" }),
      field("room-input", s.roomLabel, { value: settings?.last_room ?? "", required: true }),
      h("button", { id: "join-button", type: "submit", class: "primary", disabled: model.busy }, s.joinButton),
    ),
    h(
      "form",
      { class: "card", "aria-labelledby": "call-title", onsubmit: call },
      h("h2", { id: "call-title" }, s.callTitle),
      field("peer-input", s.peerFingerprintLabel, { placeholder: "0123:4567:…", spellcheck: "false" }),
      h("button", { id: "call-button", type: "submit", disabled: model.busy }, s.callButton),
    ),
    h("section", { class: "card", "aria-labelledby": "host-title" }, h("h2", { id: "host-title" }, s.hostTitle), h("p", {}, s.hostBody), hostBox),
    h(
      "section",
      { class: "card", "aria-labelledby": "recent-title" },
      h("h2", { id: "recent-title" }, s.recentTitle),
      entries.length === 0
        ? h("p", {}, s.recentEmpty)
        : h(
            "ul",
            { id: "recent-list", class: "recent" },
            ...entries.slice(0, 20).map((en) =>
              h(
                "li",
                { "data-target": en.target, "data-reason": en.end_reason, "data-direction": en.direction },
                h("strong", {}, historyTitle(en, findContact(contactList(), en.target)?.name ?? null)),
                " · ",
                timeAgo(en.started_unix),
                " · ",
                formatDuration(en.duration_secs),
                " · ",
                s.people(en.participants.length),
              ),
            ),
          ),
      entries.length > 0
        ? h("button", { id: "clear-history", class: "small", onclick: () => guarded(async () => { await api.clearHistory(); if (model.status) model.status.history.entries = []; }) }, s.clearHistory)
        : null,
    ),
    settingsCard(),
    identityStorageCard(),
  );
}

type StorageFormKind = "change" | "to_file" | "to_store";

/** Where the identity is kept, and the ways to change that: in the passphrase file,
 * change its passphrase or move the identity into the system's secret store; in the
 * secret store, move it into a passphrase file. Each asks for a passphrase: the file's
 * current one before anything leaves it, a new one twice before anything goes into it. */
function identityStorageCard(): HTMLElement | null {
  const storage = model.status?.storage;
  if (!storage || !model.status?.identity) return null;
  const inFile = storage.kind === "passphrase_file";
  const form = model.storageForm;
  const open = (kind: StorageFormKind, focus: string) => {
    model.storageForm = { kind, error: null };
    model.storageNote = null;
    render();
    document.getElementById(focus)?.focus();
  };
  if (!form) {
    return h(
      "section",
      { class: "card", "aria-labelledby": "identity-storage-title" },
      h("h2", { id: "identity-storage-title" }, inFile ? s.passphraseCardTitle : s.secretStoreCardTitle),
      h("p", { class: "hint" }, storageText(storage)),
      h(
        "div",
        { class: "row" },
        inFile
          ? h("button", { type: "button", id: "change-passphrase", onclick: () => open("change", "current-passphrase") }, s.changePassphrase)
          : null,
        inFile
          ? h("button", { type: "button", id: "move-to-store", onclick: () => open("to_store", "current-passphrase") }, s.moveToStore)
          : h("button", { type: "button", id: "move-to-file", onclick: () => open("to_file", "changed-passphrase") }, s.moveToFile),
      ),
      model.storageNote ? h("p", { id: "passphrase-changed", role: "status" }, model.storageNote) : null,
    );
  }
  const texts = {
    change: { title: s.changePassphraseTitle, body: s.changePassphraseBody, button: s.changePassphraseButton, busy: s.changingPassphrase, done: s.passphraseChanged },
    to_file: { title: s.moveToFileTitle, body: s.moveToFileBody, button: s.moveToFileButton, busy: s.movingIdentity, done: s.movedToFile },
    to_store: { title: s.moveToStoreTitle, body: s.moveToStoreBody, button: s.moveToStoreButton, busy: s.movingIdentity, done: s.movedToStore },
  }[form.kind];
  const needsCurrent = form.kind !== "to_file";
  const needsNew = form.kind !== "to_store";
  const submit = (e: Event) => {
    e.preventDefault();
    const current = rawValue("current-passphrase");
    const next = rawValue("changed-passphrase");
    const problem = needsNew ? passphraseProblemText(checkNewPassphrase(next, rawValue("changed-passphrase-again"), minChars())) : null;
    if ((needsCurrent && current.length === 0) || problem) {
      model.storageForm = { kind: form.kind, error: problem ?? s.currentPassphraseMissing };
      render();
      return;
    }
    guarded(async () => {
      render(); // a disabled button and what is happening: Argon2 takes about a second
      try {
        const storage =
          form.kind === "change" ? await api.changePassphrase(current, next)
          : form.kind === "to_file" ? await api.moveToFile(next)
          : await api.moveToSecretStore(current);
        if (model.status) model.status.storage = storage;
      } catch (err) {
        model.storageForm = { kind: form.kind, error: describeError(err).text };
        const input = document.getElementById("current-passphrase") as HTMLInputElement | null;
        if (input) input.value = "";
        // A move that went through but could not delete the old copy changed the store.
        model.status = await api.status().catch(() => model.status);
        return;
      }
      model.storageForm = null;
      model.storageNote = texts.done;
    });
  };
  return h(
    "form",
    { class: "card", "aria-labelledby": "change-passphrase-title", "aria-describedby": "change-passphrase-body", "aria-busy": model.busy ? "true" : "false", onsubmit: submit },
    h("h2", { id: "change-passphrase-title" }, texts.title),
    h("p", { id: "change-passphrase-body" }, texts.body),
    needsCurrent ? passphraseField("current-passphrase", s.currentPassphraseLabel) : null,
    needsNew ? passphraseField("changed-passphrase", s.newPassphraseLabel, { "aria-invalid": form.error ? "true" : undefined, "aria-describedby": form.error ? "change-passphrase-error" : undefined }) : null,
    needsNew ? passphraseField("changed-passphrase-again", s.passphraseAgainLabel) : null,
    form.error ? h("p", { id: "change-passphrase-error", class: "error", role: "alert" }, form.error) : null,
    model.busy ? h("p", { role: "status" }, texts.busy) : null,
    h(
      "div",
      { class: "row" },
      h("button", { id: "change-passphrase-submit", type: "submit", class: "primary", disabled: model.busy }, texts.button),
      h("button", { id: "change-passphrase-cancel", type: "button", onclick: () => { model.storageForm = null; render(); } }, s.cancel),
    ),
  );
}

/** Loads the relay list. Nothing is pinged on its own: a ping tells the relay's
 * operator this computer's address, so it happens only when the user asks (or adds a
 * relay, or a call through it found its key changed). */
function loadRelays(): void {
  api.relayList().then((list) => {
    model.relays = list;
    render();
  }, showError);
}

function relayName(address: string): string {
  return model.relays?.find((r) => r.address === address)?.name ?? address;
}

/** Pings one relay; a changed key opens the key-change dialog. */
function pingRelay(address: string): void {
  model.pings = { ...model.pings, [address]: { status: "pinging" } };
  render();
  api.relayPing(address).then((r) => {
    model.pings = { ...model.pings, [address]: r };
    if (r.status === "key_changed") {
      model.keyChange = { address, name: relayName(address), pinned: r.pinned, presented: r.presented };
      render();
      // The decision comes first: move the focus (and the view) to it.
      document.getElementById("key-change-keep")?.focus();
    } else if (r.status === "ok" && r.first_use) {
      // Its key is pinned now: show it in the list.
      api.relayList().then((list) => { model.relays = list; render(); }, showError);
    }
    render();
  }, (e) => {
    model.pings = { ...model.pings, [address]: { status: "idle" } };
    showError(e);
  });
}

function keyChangeDialog(k: NonNullable<typeof model.keyChange>): HTMLElement {
  const close = () => { model.keyChange = null; render(); };
  return h(
    "section",
    { id: "key-change", class: "card warning", role: "alertdialog", "aria-labelledby": "key-change-title", "aria-describedby": "key-change-body" },
    h("h2", { id: "key-change-title" }, s.relayKeyChangedTitle(k.name)),
    h("p", { id: "key-change-body" }, s.relayKeyChangedBody),
    h("dl", {},
      h("dt", {}, s.relayKeyPinned), h("dd", { class: "mono small", id: "key-change-pinned" }, keyForDisplay(k.pinned)),
      h("dt", {}, s.relayKeyPresented), h("dd", { class: "mono small", id: "key-change-presented" }, keyForDisplay(k.presented)),
    ),
    h("div", { class: "row" },
      h("button", { id: "key-change-keep", class: "primary", onclick: close }, s.relayKeepOld),
      h("button", { id: "key-change-trust", onclick: () => guarded(async () => {
        model.relays = await api.relayTrust(k.address, k.presented);
        model.keyChange = null;
        addBanner({ text: s.relayTrusted(k.name), kind: "info" });
        pingRelay(k.address);
      }) }, s.relayTrustNew),
    ),
  );
}

function relaysCard(): HTMLElement {
  const list = model.relays ?? [];
  const add = (e: Event) => {
    e.preventDefault();
    const name = value("relay-name");
    const address = value("relay-address");
    const key = value("relay-key");
    model.relayError = checkNewRelay(name, address, key);
    if (model.relayError) return render();
    guarded(async () => {
      model.relays = await api.relayAdd(name, address, key || null);
      for (const id of ["relay-name", "relay-address", "relay-key"]) {
        const el = document.getElementById(id) as HTMLInputElement | null;
        if (el) el.value = "";
      }
      pingRelay(address.trim());
    });
  };
  const use = (r: RelayView) => {
    const relay = document.getElementById("relay-input") as HTMLInputElement | null;
    const fp = document.getElementById("relay-fp-input") as HTMLInputElement | null;
    if (relay) relay.value = r.address;
    if (fp) fp.value = r.pin === "typed" ? (r.fingerprint ?? "") : "";
    relay?.focus();
  };
  const pinText = (r: RelayView) => (r.pin === "typed" ? s.relayPinTyped : r.pin === "first_use" ? s.relayPinFirstUse : s.relayPinNone);
  return h(
    "section",
    { class: "card", "aria-labelledby": "relays-title" },
    h("h2", { id: "relays-title" }, s.relaysTitle),
    list.length === 0
      ? h("p", {}, s.relaysEmpty)
      : h(
          "ul",
          { id: "relays-list", class: "contacts" },
          ...list.map((r) => {
            const p = model.pings[r.address] ?? { status: "idle" };
            const removing = model.relayRemoving === r.address;
            return h(
              "li",
              { "data-address": r.address, "data-ping": p.status, "data-pin": r.pin },
              h("strong", {}, r.name),
              r.name !== r.address ? h("span", { class: "mono small" }, ` ${r.address}`) : null,
              h("div", { class: "small" }, pinText(r)),
              r.fingerprint ? h("div", { class: "mono small relay-key" }, r.fingerprint) : null,
              h("div", { class: `small relay-ping${p.status === "key_changed" || p.status === "unreachable" ? " error" : ""}`, role: "status" }, pingText(p)),
              removing
                ? h("div", { class: "row", role: "group", "aria-label": s.relayRemoveConfirm(r.name) },
                    h("span", { class: "small" }, s.relayRemoveConfirm(r.name)),
                    h("button", { class: "small confirm-remove-relay", onclick: () => guarded(async () => {
                      model.relays = await api.relayRemove(r.address);
                      model.relayRemoving = null;
                      const { [r.address]: _gone, ...rest } = model.pings;
                      model.pings = rest;
                    }) }, s.remove),
                    h("button", { class: "small", onclick: () => { model.relayRemoving = null; render(); } }, s.cancel),
                  )
                : h("div", { class: "row" },
                    h("button", { class: "small use-relay", "aria-label": s.relayUse(r.name), onclick: () => use(r) }, s.use),
                    h("button", { class: "small ping-relay", "aria-label": s.relayPing(r.name), disabled: p.status === "pinging", onclick: () => pingRelay(r.address) }, s.ping),
                    h("button", { class: "small remove-relay", "aria-label": s.relayRemove(r.name), onclick: () => { model.relayRemoving = r.address; render(); } }, s.remove),
                  ),
            );
          }),
        ),
    h(
      "form",
      { class: "row", onsubmit: add, "aria-label": s.addRelay },
      field("relay-name", s.relayNameLabel, { maxlength: 64, autocomplete: "off" }),
      field("relay-address", s.relayAddressLabel, { placeholder: "relay.example.org:4433", spellcheck: "false", autocomplete: "off" }),
      field("relay-key", s.relayKeyLabel, { spellcheck: "false", autocomplete: "off" }),
      h("button", { id: "add-relay", type: "submit" }, s.addRelay),
    ),
    model.relayError ? h("p", { id: "relay-error", class: "error", role: "alert" }, model.relayError) : null,
  );
}

function contactsCard(): HTMLElement {
  const list = contactList();
  const add = (e: Event) => {
    e.preventDefault();
    const name = value("contact-name");
    const fp = value("contact-fp");
    model.contactError = checkNewContact(name, fp);
    if (model.contactError) return render();
    guarded(async () => {
      keepContact(await api.addContact(name, fp));
      for (const id of ["contact-name", "contact-fp"]) {
        const el = document.getElementById(id) as HTMLInputElement | null;
        if (el) el.value = "";
      }
    });
  };
  const callContact = (c: Contact) => {
    const relay = value("relay-input");
    if (!isRelayAddress(relay)) return showError({ kind: "invalid_input", message: s.contactNeedsRelay });
    guarded(async () => enterCall(await api.callFingerprint(relay, value("relay-fp-input") || null, c.fingerprint)));
  };
  return h(
    "section",
    { class: "card", "aria-labelledby": "contacts-title" },
    h("h2", { id: "contacts-title" }, s.contactsTitle),
    list.length === 0
      ? h("p", {}, s.contactsEmpty)
      : h(
          "ul",
          { id: "contacts-list", class: "contacts" },
          ...list.map((c) =>
            model.renaming?.fingerprint === c.fingerprint
              ? renameForm(c)
              : h(
              "li",
              { "data-fp": c.fingerprint, "data-verified": String(c.verified) },
              h("strong", {}, c.name),
              " ",
              c.verified
                ? h("span", { class: "tag verified", title: s.verifiedHint }, `✓ ${s.verified}`)
                : h("span", { class: "tag" }, s.notVerified),
              h("div", { class: "mono small" }, c.fingerprint),
              h("div", { class: "row" },
                h("button", { class: "small call-contact", "aria-label": s.callContact(c.name), disabled: model.busy, onclick: () => callContact(c) }, s.call),
                h("button", { class: "small rename-contact", "aria-label": s.renameContact(c.name), onclick: () => {
                  model.renaming = { fingerprint: c.fingerprint, error: null };
                  render();
                  document.getElementById("rename-contact-name")?.focus();
                } }, s.rename),
                h("button", { class: "small remove-contact", "aria-label": s.removeContact(c.name), onclick: () => guarded(async () => {
                  await api.removeContact(c.fingerprint);
                  if (model.status) model.status.contacts.contacts = model.status.contacts.contacts.filter((x) => x.fingerprint !== c.fingerprint);
                }) }, s.remove),
              ),
            ),
          ),
        ),
    h(
      "form",
      { class: "row", onsubmit: add, "aria-label": s.addContact },
      field("contact-name", s.contactNameLabel, { maxlength: 64, autocomplete: "off" }),
      field("contact-fp", s.contactFpLabel, { placeholder: "0123:4567:…", spellcheck: "false", autocomplete: "off" }),
      h("button", { id: "add-contact", type: "submit" }, s.addContact),
    ),
    model.contactError ? h("p", { id: "contact-error", class: "error", role: "alert" }, model.contactError) : null,
  );
}

/** A contact's row while it is renamed: the name field (filled in with the old name),
 * save and cancel. Saving goes through the same command as adding (the fingerprint is
 * the key, so the verified mark stays). */
function renameForm(c: Contact): HTMLElement {
  const save = (e: Event) => {
    e.preventDefault();
    const name = value("rename-contact-name");
    const problem = checkNewContact(name, c.fingerprint);
    if (problem) {
      model.renaming = { fingerprint: c.fingerprint, error: problem };
      return render();
    }
    guarded(async () => {
      keepContact(await api.addContact(name.trim(), c.fingerprint));
      model.renaming = null;
    });
  };
  const error = model.renaming?.error ?? null;
  return h(
    "li",
    { "data-fp": c.fingerprint, "data-verified": String(c.verified) },
    h(
      "form",
      { class: "row", onsubmit: save, "aria-label": s.renameContact(c.name) },
      field("rename-contact-name", s.newContactNameLabel, {
        maxlength: 64, autocomplete: "off", value: c.name,
        "aria-invalid": error ? "true" : undefined, "aria-describedby": error ? "rename-contact-error" : undefined,
      }),
      h("button", { id: "rename-contact-save", type: "submit", class: "primary", disabled: model.busy }, s.save),
      h("button", { id: "rename-contact-cancel", type: "button", onclick: () => { model.renaming = null; render(); } }, s.cancel),
    ),
    h("div", { class: "mono small" }, c.fingerprint),
    error ? h("p", { id: "rename-contact-error", class: "error", role: "alert" }, error) : null,
  );
}

function select(id: string, label: string, options: [string, string][], current: string, onchange?: (e: Event) => void): HTMLElement {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("select", { id, name: id, onchange }, ...options.map(([v, t]) => h("option", { value: v, selected: v === current }, t))),
  );
}

// --- settings: microphone test and test sound ------------------------------------

/** The device picked in the settings card (saved or not; "" is the system default). */
function pickedDevice(dir: "input" | "output"): string {
  const st = model.status?.settings;
  return model.draftDevices[dir] ?? (dir === "input" ? st?.audio_input : st?.audio_output) ?? "";
}

/** A device test failed: device errors get the test's own words (the generic device
 * text is about a running call), others the usual ones. */
function deviceTestError(text: string, e: unknown): void {
  const d = describeError(e);
  const kind = (e as { kind?: string } | null)?.kind;
  addBanner(kind === "device" ? { text, detail: d.detail, kind: "error" } : { ...d, kind: "error" });
  render();
}

function startMicTest(): void {
  if (model.micTestStarting) return;
  model.micTestStarting = true;
  model.micTest = micTestIdle;
  render();
  api.micTestStart(pickedDevice("input") || null).then(
    (test) => { model.micTest = { ...micTestIdle, test }; },
    (e) => { model.micTest = micTestIdle; deviceTestError(s.micTestFailed, e); },
  ).finally(() => {
    model.micTestStarting = false;
    render();
  });
}

/** Stops the microphone test (the shell also stops it when a call starts). */
function stopMicTest(): void {
  if (model.micTest.test === null) return;
  model.micTest = micTestIdle;
  api.micTestStop().catch((e) => console.warn("microphone test", e));
}

function playTestSound(): void {
  if (model.soundPlaying) return;
  model.soundPlaying = true;
  render();
  api.playTestSound(pickedDevice("output") || null).then(
    () => undefined,
    (e) => deviceTestError(s.testSoundFailed, e),
  ).finally(() => {
    model.soundPlaying = false;
    render();
  });
}

/** Moves the meter without a redraw (about 10 times a second). */
function showMicLevel(): void {
  const m = document.getElementById("mic-meter");
  if (!m) return;
  const { percent, text } = micLevelText(model.micTest.level);
  m.setAttribute("value", String(percent));
  m.setAttribute("aria-valuenow", String(percent));
  m.setAttribute("aria-valuetext", text);
  m.dataset.peak = String(micLevelText(model.micTest.peak).percent);
}

function micMeter(): HTMLElement {
  const { percent, text } = micLevelText(model.micTest.level);
  return h(
    "div",
    { class: "field mic-level" },
    h("label", { for: "mic-meter", id: "mic-meter-label" }, s.micLevelLabel),
    h("meter", {
      id: "mic-meter",
      min: 0,
      max: 100,
      low: 25,
      high: 90,
      optimum: 60,
      value: percent,
      "aria-labelledby": "mic-meter-label",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": percent,
      "aria-valuetext": text,
      "data-peak": micLevelText(model.micTest.peak).percent,
      "data-running": String(model.micTest.test !== null),
    }),
  );
}

/** Microphone and speaker pickers with their checks: a level meter and a test toggle
 * next to the microphone, a test sound next to the speaker. */
function deviceFields(devs: Device[]): HTMLElement {
  const running = model.micTest.test !== null;
  const pickMic = (e: Event) => {
    model.draftDevices = { ...model.draftDevices, input: (e.target as HTMLSelectElement).value };
    // The meter follows the picked microphone at once.
    if (model.micTest.test !== null) startMicTest();
  };
  const pickSpeaker = (e: Event) => {
    model.draftDevices = { ...model.draftDevices, output: (e.target as HTMLSelectElement).value };
  };
  return h("div", {},
    devs.length === 0 ? h("p", {}, s.noDevices) : null,
    h("div", { class: "row" },
      select("mic-select", s.microphoneLabel, deviceOptions(devs, "input"), pickedDevice("input"), pickMic),
      h("button", {
        type: "button",
        id: "mic-test",
        "aria-pressed": String(running),
        disabled: model.micTestStarting,
        onclick: () => (running ? (stopMicTest(), render()) : startMicTest()),
      }, running ? s.micTestStop : s.micTestStart)),
    micMeter(),
    running ? h("p", { class: "hint" }, s.micTestHint) : null,
    h("div", { class: "row" },
      select("speaker-select", s.speakerLabel, deviceOptions(devs, "output"), pickedDevice("output"), pickSpeaker),
      h("button", { type: "button", id: "speaker-test", disabled: model.soundPlaying, onclick: playTestSound },
        model.soundPlaying ? s.playingTestSound : s.playTestSound)),
  );
}

function pickedCamera(): string {
  return model.draftCamera ?? model.status?.settings.camera ?? "";
}

function startPreview(): void {
  guarded(async () => {
    model.preview = await api.cameraPreviewStart(pickedCamera() || null);
  }).then(() => {
    // The picture is drawn over the preview area only where it is on screen.
    document.getElementById("preview-area")?.scrollIntoView({ block: "nearest" });
    reportVideoLayout();
  });
}

function stopPreview(): void {
  if (model.preview === null) return;
  model.preview = null;
  api.cameraPreviewStop().catch((e) => console.warn("camera preview", e));
}

/** The camera picker and its preview (drawn natively over #preview-area, like call video). */
function cameraFields(): HTMLElement {
  const cams = model.cameras ?? [];
  const running = model.preview !== null;
  const pick = (e: Event) => {
    model.draftCamera = (e.target as HTMLSelectElement).value;
    if (running) startPreview();
  };
  return h("div", {},
    cams.length === 0 ? h("p", { id: "no-camera" }, s.noCameras) : null,
    h("div", { class: "row" },
      select("camera-select", s.cameraLabel, [["", s.firstCamera], ...cams.map((c): [string, string] => [c.id, c.name])], pickedCamera(), pick),
      h("button", {
        type: "button",
        id: "camera-preview",
        "aria-pressed": String(running),
        onclick: () => (running ? (stopPreview(), render()) : startPreview()),
      }, running ? s.previewStop : s.previewStart)),
    running
      ? h("div", { id: "preview-area", class: "video-area n1", role: "img", "aria-label": s.previewArea },
          h("div", { class: "video-tile self", "data-participant": 0 }))
      : null,
  );
}

function checkbox(id: string, label: string, on: boolean): HTMLElement {
  return h("div", { class: "check" },
    h("input", { type: "checkbox", id, checked: on }),
    h("label", { for: id }, label));
}

/** Whether checkbox `id` is ticked (`fallback` when it is not on screen). */
function checked(id: string, fallback: boolean): boolean {
  return (document.getElementById(id) as HTMLInputElement | null)?.checked ?? fallback;
}

/** The push-to-talk key: a button that waits for the key to use, and one to turn it off. */
function pttField(key: string | null): HTMLElement {
  return h("div", { class: "field", role: "group", "aria-labelledby": "ptt-label" },
    h("span", { id: "ptt-label" }, s.pttLabel),
    h("div", { class: "row" },
      h("button", {
        type: "button",
        id: "ptt-set",
        "data-key": key ?? "",
        "aria-pressed": String(model.pttCapture),
        onclick: () => { model.pttCapture = !model.pttCapture; render(); },
      }, model.pttCapture ? s.pttPressKey : key ? s.pttKeyIs(pttKeyName(key)) : s.pttOff),
      key
        ? h("button", { type: "button", id: "ptt-off", onclick: () => { model.draftPtt = null; model.pttCapture = false; render(); } }, s.pttTurnOff)
        : null,
    ),
    h("p", { class: "hint" }, s.pttHint));
}

function settingsCard(): HTMLElement {
  const st = model.status?.settings;
  const devs = model.devices;
  const save = (e: Event) => {
    e.preventDefault();
    const cur = model.status?.settings;
    if (!cur) return;
    const pick = (id: string) => (document.getElementById(id) as HTMLSelectElement | null)?.value ?? "";
    const next = {
      ...cur,
      audio_input: devs ? pick("mic-select") || null : cur.audio_input,
      audio_output: devs ? pick("speaker-select") || null : cur.audio_output,
      camera: model.draftCamera === undefined ? cur.camera : model.draftCamera || null,
      theme: pick("theme-select") || "system",
      receive_calls: (document.getElementById("receive-calls") as HTMLInputElement | null)?.checked ?? cur.receive_calls,
      receive_relay: value("receive-relay") || null,
      call_notifications: checked("call-notifications", cur.call_notifications ?? true),
      voice: {
        echo_cancellation: checked("voice-aec", cur.voice.echo_cancellation),
        noise_suppression: checked("voice-ns", cur.voice.noise_suppression),
        gain_control: checked("voice-agc", cur.voice.gain_control),
      },
      push_to_talk: model.draftPtt === undefined ? cur.push_to_talk : model.draftPtt,
      push_to_talk_background: checked("ptt-background", cur.push_to_talk_background ?? false),
      camera_off_at_start: checked("camera-off-at-start", cur.camera_off_at_start ?? false),
    };
    if (next.receive_relay && !isRelayAddress(next.receive_relay)) {
      showError({ kind: "invalid_input", message: `relay: “${next.receive_relay}” is not HOST:PORT` });
      return;
    }
    guarded(async () => {
      await api.saveSettings(next);
      if (model.status) model.status.settings = next;
      model.draftDevices = {};
      model.draftPtt = undefined;
      model.draftCamera = undefined;
      applyTheme(next.theme);
      model.settingsNote = s.saved;
    });
  };
  return h(
    "form",
    { class: "card", "aria-labelledby": "settings-title", onsubmit: save },
    h("h2", { id: "settings-title" }, s.settingsTitle),
    devs
      ? deviceFields(devs)
      : h("button", { type: "button", id: "load-devices", onclick: () => guarded(async () => {
          model.devices = await api.listAudioDevices();
          model.cameras = await api.listCameras();
        }) }, s.loadDevices),
    devs ? cameraFields() : null,
    checkbox("camera-off-at-start", s.cameraOffAtStartLabel, st?.camera_off_at_start ?? false),
    h("fieldset", { class: "field" },
      h("legend", {}, s.voiceLegend),
      checkbox("voice-aec", s.echoCancellationLabel, st?.voice.echo_cancellation ?? true),
      checkbox("voice-ns", s.noiseSuppressionLabel, st?.voice.noise_suppression ?? true),
      checkbox("voice-agc", s.gainControlLabel, st?.voice.gain_control ?? true),
      h("p", { class: "hint" }, s.voiceHint)),
    pttField(model.draftPtt === undefined ? (st?.push_to_talk ?? null) : model.draftPtt),
    checkbox("ptt-background", s.pttBackgroundLabel, st?.push_to_talk_background ?? false),
    h("p", { class: "hint" }, s.pttBackgroundHint),
    select("theme-select", s.themeLabel, Object.entries(s.themes), st?.theme ?? "system"),
    h("div", { class: "field check" },
      h("input", { type: "checkbox", id: "receive-calls", checked: st?.receive_calls ?? true }),
      h("label", { for: "receive-calls" }, s.receiveCallsLabel)),
    checkbox("call-notifications", s.callNotificationsLabel, st?.call_notifications ?? true),
    field("receive-relay", s.receiveRelayLabel, { value: st?.receive_relay ?? "", placeholder: model.listener?.relay ?? "", spellcheck: "false" }),
    h("div", { class: "row" },
      h("button", { type: "submit", id: "save-settings" }, s.saveSettings),
      h("button", {
        type: "button",
        id: "show-words",
        "aria-expanded": String(model.backupWords !== null),
        onclick: () => guarded(async () => { model.backupWords = model.backupWords ? null : await api.identityWords(); }),
      }, model.backupWords ? s.hideWords : s.showWords),
    ),
    model.settingsNote ? h("p", { role: "status" }, model.settingsNote) : null,
    h("p", { id: "identity-storage", class: "hint" }, storageText(model.status?.storage ?? null)),
    model.backupWords
      ? h("div", {}, h("p", { class: "error" }, s.wordsWarning), h("ol", { class: "words" }, ...model.backupWords.map((w) => h("li", {}, w))))
      : null,
  );
}

/** Back to home after a call, with settings (remembered relay and room) reloaded. */
function backHome(): void {
  const ended = model.call;
  if (ended?.endReason?.reason === "relay_key_changed") pingRelay(ended.info.relay);
  else if (ended) api.relayList().then((list) => { model.relays = list; render(); }, showError);
  model.call = null;
  model.screen = { name: "home" };
  render();
  api.status().then((st) => {
    if (model.status) {
      model.status.settings = st.settings;
      model.status.history = st.history;
      model.status.contacts = st.contacts;
    }
    model.host = st.host;
    render();
  }, showError);
}

/** A verified mark (and the contact's name, if it differs from the shown one) for
 * someone in a call who is a saved contact. */
function contactTag(fp: string, shown: string): HTMLElement | null {
  const c = findContact(contactList(), fp);
  if (!c) return null;
  const name = c.name === shown ? "" : c.name;
  const text = c.verified ? (name ? `✓ ${s.verified} · ${name}` : `✓ ${s.verified}`) : name ? s.inContacts(name) : s.inContacts(c.name);
  return h("span", { class: `tag contact ${c.verified ? "verified" : ""}`, "data-verified": String(c.verified), title: c.verified ? s.verifiedHint : undefined }, text);
}

/** Room name, or for a direct call the contact's name, their alias, or their fingerprint. */
function callTitle(c: CallView): string {
  if (c.info.direction === "room") return c.info.target;
  const contact = findContact(contactList(), c.info.target);
  const alias = c.participants.find((p) => p.alias)?.alias ?? null;
  return contact?.name ?? alias ?? formatFingerprint(c.info.target);
}

/** Microphone and speaker pickers that switch the running call's devices. */
function callDevicesCard(over: boolean): HTMLElement {
  const pick = (dir: "input" | "output", el: HTMLSelectElement) => {
    const id = el.value || null;
    const name = el.selectedOptions[0]?.textContent ?? el.value;
    el.blur();
    api.setAudioDevice(dir, id).then(
      () => {
        model.callDevices = { ...model.callDevices, [dir]: id, note: s.deviceSwitched(name) };
        render();
      },
      (e) => {
        model.callDevices = { ...model.callDevices, note: null };
        addBanner({ text: s.deviceFailed(name), detail: describeError(e).detail, kind: "warning" });
        render();
      },
    );
  };
  const pickCamera = (el: HTMLSelectElement) => {
    const id = el.value || null;
    const name = el.selectedOptions[0]?.textContent ?? el.value;
    el.blur();
    if (model.call && !model.call.camera) {
      // The camera is off (and closed): remember the choice for when it is turned on.
      model.callDevices = { ...model.callDevices, camera: id, note: s.cameraChosenWhileOff(name) };
      render();
      return;
    }
    api.setCamera(id).then(
      () => {
        model.callDevices = { ...model.callDevices, camera: id, note: s.deviceSwitched(name) };
        render();
      },
      (e) => {
        model.callDevices = { ...model.callDevices, note: null };
        addBanner({ text: s.deviceFailed(name), detail: describeError(e).detail, kind: "warning" });
        render();
      },
    );
  };
  const c = model.call;
  const cameraPicker = c?.info.video && (model.cameras?.length ?? 0) > 0
    ? h("div", { class: "field" },
        h("label", { for: "call-camera-select" }, s.cameraLabel),
        h("select", { id: "call-camera-select", "data-live": "true", disabled: over, onchange: (e: Event) => pickCamera(e.target as HTMLSelectElement) },
          ...[["", s.firstCamera], ...(model.cameras ?? []).map((x): [string, string] => [x.id, x.name])].map(([v, t]) =>
            h("option", { value: v, selected: v === (model.callDevices.camera ?? "") }, t))))
    : null;
  const picker = (dir: "input" | "output", id: string, label: string) =>
    h("div", { class: "field" },
      h("label", { for: id }, label),
      h("select", { id, "data-live": "true", disabled: over, onchange: (e: Event) => pick(dir, e.target as HTMLSelectElement) },
        ...deviceOptions(model.devices, dir).map(([v, t]) => h("option", { value: v, selected: v === (model.callDevices[dir] ?? "") }, t))));
  return h(
    "section",
    { class: "card", "aria-labelledby": "call-devices-title", id: "call-devices" },
    h("h2", { id: "call-devices-title" }, s.callDevicesTitle),
    h("div", { class: "row" }, picker("input", "call-mic-select", s.microphoneLabel), picker("output", "call-speaker-select", s.speakerLabel), cameraPicker),
    model.callDevices.note ? h("p", { role: "status", id: "call-devices-note" }, model.callDevices.note) : null,
  );
}

function callScreen(c: CallView): HTMLElement {
  const over = isOver(c);
  const stats = c.stats;
  const statusText = c.state === "ended" ? `${s.state.ended}: ${describeEnd(c.endReason ?? undefined)}` : (s.state[c.state] ?? c.state);
  const people = h(
    "ul",
    { id: "participants", class: "participants", "aria-label": s.participantsTitle },
    h("li", { class: `person self ${c.localLevel > 0.05 && !c.muted ? "speaking" : ""}` },
      h("span", { class: "name" }, s.you),
      c.muted ? h("span", { class: "tag" }, s.muted) : null,
      h("meter", { min: 0, max: 1, value: c.localLevel, "aria-label": `${s.you} level` }),
    ),
    ...c.participants.map((p) =>
      h(
        "li",
        { class: `person ${p.speaking ? "speaking" : ""}`, "data-fp": p.fingerprint, "data-id": p.id },
        h("span", { class: "name" }, displayName(p, shortFingerprint)),
        contactTag(p.fingerprint, displayName(p, shortFingerprint)),
        p.speaking ? h("span", { class: "tag live" }, s.speaking) : null,
        p.muted ? h("span", { class: "tag" }, s.muted) : null,
        p.quality ? h("span", { class: `quality q-${p.quality}`, role: "img", "aria-label": s.quality[p.quality] }, "●") : null,
        h("meter", { min: 0, max: 1, value: p.level, "aria-label": `${displayName(p, shortFingerprint)} level` }),
        h("div", { class: "mono small" }, formatFingerprint(p.fingerprint)),
      ),
    ),
  );
  const verify = c.participants.filter((p) => p.shortCode);
  const withVideo = videoParticipants(c);
  // Our own picture (self-view) comes last, while the camera is on.
  const selfView = !isOver(c) && c.info.video && c.camera;
  const tiles = withVideo.length + (selfView ? 1 : 0);
  const video = tiles
    ? h(
        "section",
        { class: "card", "aria-label": s.videoTitle },
        // The pictures are drawn natively over #video-area (not by the page); names sit below.
        h("div", { id: "video-area", class: `video-area n${Math.min(tiles, 4)}` },
          ...withVideo.map((p) => h("div", { class: "video-tile", "data-participant": p.id, role: "img", "aria-label": s.videoOf(displayName(p, shortFingerprint)) })),
          selfView ? h("div", { class: "video-tile self", "data-participant": 0, role: "img", "aria-label": s.selfView }) : null),
        h("div", { class: "video-names" },
          ...withVideo.map((p) => h("span", {}, displayName(p, shortFingerprint))),
          selfView ? h("span", {}, s.you) : null),
      )
    : null;
  return h(
    "main",
    { class: "call", "aria-labelledby": "call-heading" },
    h("h1", { id: "call-heading" }, s.inCallTitle(callTitle(c))),
    h("p", { id: "call-state", role: "status", "aria-live": "polite", "data-state": c.state }, statusText),
    video,
    h("section", { class: "card" }, h("h2", {}, s.participantsTitle), c.participants.length === 0 && !over ? h("p", {}, s.nobodyYet) : null, people),
    h(
      "div",
      { class: "controls", role: "toolbar", "aria-label": "Call controls" },
      h("button", { id: "mute-button", "aria-pressed": String(mic.userMuted), "aria-keyshortcuts": "M", disabled: over, onclick: toggleMute }, mic.userMuted ? s.unmute : s.mute),
      h("button", { id: "camera-button", "aria-pressed": String(c.camera), "aria-keyshortcuts": "V", disabled: over || !c.info.video, title: c.info.video ? undefined : s.noCamera, onclick: toggleCamera }, c.camera ? s.cameraOff : s.cameraOn),
      over
        ? h("button", { id: "back-home", class: "primary", onclick: backHome }, s.back)
        : h("button", { id: "hangup-button", class: "danger", "aria-keyshortcuts": "Control+E", onclick: hangUp }, s.hangUp),
      h("button", { id: "stats-toggle", "aria-expanded": String(model.showStats), onclick: () => { model.showStats = !model.showStats; render(); } }, model.showStats ? s.hideStats : s.showStats),
    ),
    pttKey() && !over
      ? h("p", { id: "ptt-status", role: "status", "data-held": String(mic.held), class: mic.held ? "speaking" : "hint" },
          mic.userMuted ? s.pttMuted : mic.held ? s.pttTalking(pttKeyName(pttKey() ?? "")) : s.pttIdle(pttKeyName(pttKey() ?? "")))
      : null,
    h("p", { class: "hint" }, s.shortcutsHint),
    callDevicesCard(over),
    verify.length > 0
      ? h(
          "section",
          { class: "card", "aria-labelledby": "verify-title", id: "verification" },
          h("h2", { id: "verify-title" }, s.verifyTitle),
          h("p", {}, s.verifyBody),
          h("dl", {}, ...verify.flatMap((p) => {
            const contact = findContact(contactList(), p.fingerprint);
            return [
              h("dt", { "data-fp": p.fingerprint }, displayName(p, shortFingerprint), " ", contactTag(p.fingerprint, displayName(p, shortFingerprint))),
              h("dd", { "data-fp": p.fingerprint },
                `${s.shortCode}: `, h("strong", { class: "mono code" }, p.shortCode ?? ""), h("br"),
                `${s.safetyNumber}: `, h("span", { class: "mono" }, p.safetyNumber ?? ""),
                p.fingerprint
                  ? h("div", { class: "row" },
                      contact ? null : h("button", { class: "small save-contact", onclick: () => saveFromCall(p.fingerprint, p.alias, null) }, s.saveContact),
                      contact?.verified
                        ? h("button", { class: "small unverify-contact", onclick: () => guarded(async () => keepContact(await api.setContactVerified(p.fingerprint, false))) }, s.unmarkVerified)
                        : h("button", { class: "small verify-contact", onclick: () => saveFromCall(p.fingerprint, p.alias, true) }, s.markVerified))
                  : null),
            ];
          })),
        )
      : null,
    model.showStats && stats
      ? h(
          "section",
          { class: "card", id: "stats", "aria-labelledby": "stats-title" },
          h("h2", { id: "stats-title" }, s.statsTitle),
          h("dl", { class: "stats" },
            h("dt", {}, s.stat.duration), h("dd", {}, formatDuration(durationSecs(stats.active_for))),
            h("dt", {}, s.stat.bitrateOut), h("dd", {}, formatBitrate(stats.bitrate_out_bps)),
            h("dt", {}, s.stat.echo), h("dd", { id: "stat-echo" }, stats.echo_erle_db == null ? s.stat.echoNone : s.stat.echoErle(stats.echo_erle_db)),
            h("dt", {}, s.stat.relay), h("dd", { class: "mono" }, stats.relay),
            h("dt", {}, s.stat.reconnects), h("dd", {}, String(stats.reconnects)),
          ),
          h("table", {},
            h("thead", {}, h("tr", {}, ...["", s.stat.rtt, s.stat.loss, s.stat.jitter, s.stat.bitrateIn, s.stat.codec, s.stat.resolution, s.stat.fps].map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", {}, ...stats.participants.map((ps) => {
              const p = c.participants.find((x) => x.id === ps.id);
              return h("tr", {},
                h("th", { scope: "row" }, p ? displayName(p, shortFingerprint) : `#${ps.id}`),
                h("td", {}, `${ps.rtt_ms} ms`), h("td", {}, formatPercent(ps.loss)), h("td", {}, `${ps.jitter_ms} ms`),
                h("td", {}, formatBitrate(ps.bitrate_in_bps)), h("td", {}, ps.audio_codec ?? "–"),
                h("td", {}, ps.resolution ? `${ps.resolution[0]}×${ps.resolution[1]}` : "–"), h("td", {}, ps.fps ? ps.fps.toFixed(1) : "–"));
            })),
          ),
        )
      : null,
    c.warnings.length > 0 ? h("ul", { class: "warnings", "aria-label": s.warning }, ...c.warnings.map((w) => h("li", {}, w))) : null,
  );
}

function banners(): HTMLElement | null {
  if (model.banners.length === 0) return null;
  return h(
    "div",
    { class: "banners" },
    ...model.banners.map((b, i) =>
      h(
        "div",
        { class: `banner ${b.kind}`, role: b.kind === "error" ? "alert" : "status" },
        h("span", {}, b.text),
        b.detail ? h("details", {}, h("summary", {}, s.details), h("code", {}, b.detail)) : null,
        h("button", { class: "small", "aria-label": s.dismiss, onclick: () => { model.banners.splice(i, 1); render(); } }, "×"),
      ),
    ),
  );
}

// The call view redraws up to ten times a second. A click whose mouse-down and
// mouse-up land on two different copies of a button does nothing (seen with hang up),
// so redraws wait while a pointer button is held (at most a second, in case the
// release happens outside the window).
let pointerHeld = false;
let renderWaiting = false;
let pointerTimer: ReturnType<typeof setTimeout> | undefined;

function pointerReleased(): void {
  pointerHeld = false;
  clearTimeout(pointerTimer);
  if (renderWaiting) {
    renderWaiting = false;
    // After the click event that follows this release has been handled.
    setTimeout(render, 0);
  }
}

document.addEventListener("pointerdown", () => {
  pointerHeld = true;
  clearTimeout(pointerTimer);
  pointerTimer = setTimeout(pointerReleased, 1000);
}, { capture: true });
document.addEventListener("pointerup", pointerReleased, { capture: true });
document.addEventListener("pointercancel", pointerReleased, { capture: true });

// A device picker in the call view must survive the 10 Hz redraw while it is open:
// redraws wait while it has the focus (it gives the focus up after a choice), at
// most 15 s.
let deferredSince = 0;
document.addEventListener("focusout", () => {
  if (renderWaiting && !pointerHeld) {
    renderWaiting = false;
    setTimeout(render, 0);
  }
});

function render(): void {
  if (pointerHeld) {
    renderWaiting = true;
    return;
  }
  const ae = document.activeElement as HTMLElement | null;
  if (ae?.tagName === "SELECT" && ae.dataset.live === "true") {
    if (!renderWaiting) deferredSince = Date.now();
    if (Date.now() - deferredSince < 15000) {
      renderWaiting = true;
      return;
    }
  }
  renderWaiting = false;
  const focusedId = document.activeElement?.id;
  const kept = new Map<string, string>();
  root.querySelectorAll("input, textarea").forEach((el) => {
    const i = el as HTMLInputElement;
    if (i.id) kept.set(i.id, i.value);
  });
  let body: HTMLElement;
  const sc = model.screen;
  switch (sc.name) {
    case "loading": body = h("p", { role: "status" }, s.loading); break;
    case "welcome": body = welcome(); break;
    case "backup": body = backup(sc.words); break;
    case "confirm": body = confirmScreen(sc); break;
    case "restore": body = restoreScreen(sc); break;
    case "passphrase": body = passphraseScreen(sc); break;
    case "unlock": body = unlockScreen(sc); break;
    case "forgot": body = forgotScreen(); break;
    case "home": body = home(); break;
    case "call": body = model.call ? callScreen(model.call) : home(); break;
  }
  if (model.incoming) body = incomingScreen(model.incoming);
  root.replaceChildren(...[banners(), body].filter((x): x is HTMLElement => x !== null));
  // Redraws must not lose what the user is typing or where the focus is.
  kept.forEach((v, id) => {
    const el = document.getElementById(id) as HTMLInputElement | null;
    if (el && el.value !== v && sc.name !== "call") el.value = v;
  });
  if (focusedId) document.getElementById(focusedId)?.focus();
  if (sc.name === "home" && !model.incoming) fillFromLink();
  // The microphone test lives in the settings card: off screen (a call, a ringing call,
  // another screen), it stops.
  if (model.micTest.test !== null && !document.getElementById("mic-meter")) stopMicTest();
  reportVideoLayout();
  syncTray();
}

// --- tray icon -----------------------------------------------------------------------

let trayKey = "";

/** Tells the shell what the tray shows (its words the first time), only on a change. */
function syncTray(): void {
  const c = model.call;
  const inCall = c !== null && !isOver(c);
  const muted = inCall && (c?.muted ?? false);
  const key = `${inCall}|${muted}`;
  if (key === trayKey) return;
  const first = trayKey === "";
  trayKey = key;
  api.traySet(first ? s.tray : null, inCall, muted).catch((e) => console.warn("tray", e));
}

// --- wzp:// links ---------------------------------------------------------------------

/** A link the shell parsed: shown as a refusal, or kept to fill in the home screen. */
function openLink(o: Opened): void {
  if ("refused" in o) {
    const { detail } = describeError(o.refused);
    addBanner({ text: s.linkRefused, detail, kind: "error" });
  } else {
    model.pendingLink = o.link;
    if (model.screen.name !== "home") addBanner({ text: s.linkWait, kind: "info" });
  }
  render();
}

/** Fills the home screen's form from the waiting link and focuses its button. */
function fillFromLink(): void {
  const l = model.pendingLink;
  if (!l) return;
  model.pendingLink = null;
  const form = linkForm(l);
  for (const [id, v] of Object.entries(form.fields)) {
    const el = document.getElementById(id) as HTMLInputElement | null;
    if (el) el.value = v;
  }
  document.getElementById(form.focus)?.focus();
  addBanner({ text: form.note, kind: "info" });
  // The banner is drawn on the next render; the filled values survive it.
  setTimeout(render, 0);
}

onLink(openLink).catch((e) => console.warn("links", e));

onTrayAction((action) => {
  if (action === "mute") toggleMute();
  else hangUp();
});

// --- native video placement --------------------------------------------------------

let lastLayout = "";

function rectOf(el: Element): Box {
  const r = el.getBoundingClientRect();
  return { x: r.left, y: r.top, width: r.width, height: r.height };
}

/** Tells the shell where the video area and tiles are (only when that changed). */
function reportVideoLayout(): void {
  const area = model.screen.name === "call"
    ? document.getElementById("video-area")
    : model.preview !== null && !model.incoming
      ? document.getElementById("preview-area")
      : null;
  const layout: VideoLayout = area
    ? {
        area: rectOf(area),
        tiles: Array.from(area.querySelectorAll<HTMLElement>(".video-tile")).map((t) => ({
          participant: Number(t.dataset.participant),
          rect: rectOf(t),
        })),
      }
    : { area: null, tiles: [] };
  const key = layoutKey(layout);
  if (key === lastLayout) return;
  lastLayout = key;
  api.videoLayout(layout).catch((e) => console.warn("video layout", e));
}

window.addEventListener("resize", reportVideoLayout);
document.addEventListener("scroll", reportVideoLayout, { capture: true, passive: true });

// --- wiring ----------------------------------------------------------------------

document.addEventListener("keydown", (e) => {
  if (model.incoming) {
    const k = e.key.toLowerCase();
    if (k === "escape" || k === "d") {
      e.preventDefault();
      answer(false);
    } else if (k === "a") {
      e.preventDefault();
      answer(true);
    }
    return;
  }
  if (model.pttCapture) {
    e.preventDefault();
    // Its key-up must not press the focused button (Space and Enter activate buttons).
    swallowKeyUp = true;
    if (e.key === "Escape") {
      model.pttCapture = false;
      model.settingsNote = null;
    } else {
      const k = pttKeyOf(e);
      if (k) {
        model.draftPtt = k;
        model.pttCapture = false;
        model.settingsNote = null;
      } else model.settingsNote = s.pttReserved;
    }
    render();
    return;
  }
  if (model.screen.name !== "call") return;
  const t = e.target as HTMLElement | null;
  const typing = t?.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t?.tagName ?? "");
  if (!typing && isPttKey(pttKey(), e)) {
    e.preventDefault();
    if (!e.repeat) pttHeld(true);
    return;
  }
  const action = shortcutFor({ key: e.key, ctrlKey: e.ctrlKey, metaKey: e.metaKey, altKey: e.altKey, targetTag: t?.tagName, editable: t?.isContentEditable });
  if (!action) return;
  e.preventDefault();
  if (action === "mute") toggleMute();
  else if (action === "camera") toggleCamera();
  else hangUp();
});

let swallowKeyUp = false;
document.addEventListener("keyup", (e) => {
  if (swallowKeyUp) {
    swallowKeyUp = false;
    e.preventDefault();
    return;
  }
  if (model.screen.name === "call" && isPttKey(pttKey(), e)) {
    e.preventDefault();
    pttHeld(false);
  }
});
// Key-up events do not reach a window that lost the focus: release the key then
// (unless the key is read system-wide, which sees its real state).
window.addEventListener("blur", () => {
  if (mic.held && !pttWatching) {
    clearTimeout(mic.release);
    mic.held = false;
    applyMic();
    render();
  }
});

onCallEvent((callNo, ev) => {
  if (ev.event === "warning" && callNo === 0) {
    addBanner({ text: ev.message, kind: "warning" });
    render();
    return;
  }
  if (!model.call || model.call.info.call_no !== callNo) {
    if (!model.call || model.call.info.call_no < callNo) early = [...early.slice(-199), { callNo, ev }];
    return;
  }
  model.call = applyEvent(model.call, ev);
  render();
});

onPttKey((held) => {
  if (model.screen.name === "call" && pttWatching) pttHeld(held);
});

onCallEnded((e) => {
  watchPttKey(false);
  if (model.status) {
    model.status.history.entries = [e.entry, ...model.status.history.entries];
  }
  if (model.call && model.call.info.call_no === e.call_no) {
    model.call = applyEvent(model.call, { event: "state", state: "ended", reason: e.reason });
    model.call = { ...model.call, endReason: e.reason };
  }
  render();
});

onAppError((e) => showError(e));
onPreviewStopped((e) => {
  if (model.preview !== e.preview) return;
  model.preview = null;
  if (e.error) addBanner({ text: s.previewEnded, detail: e.error, kind: "warning" });
  render();
});
onMicLevel((e) => {
  const before = model.micTest;
  model.micTest = applyMicLevel(before, e);
  if (model.micTest === before) return;
  if (!e.stopped) return showMicLevel();
  if (e.error) addBanner({ text: s.micTestEnded, detail: e.error, kind: "warning" });
  render();
});

onListenerState((st) => {
  model.listener = st;
  // Only the status line changes: a full redraw of home would disturb typing.
  const el = document.getElementById("listener-status");
  if (!el) return;
  el.textContent = listenerText(st, model.status?.settings.receive_calls ?? true);
  el.dataset.state = st.state;
  el.classList.toggle("error", st.state === "retrying");
});

onIncomingCall((o) => showIncoming(o));

// Accept / Decline on the desktop notification: the same code as the buttons (the shell
// has already brought the window to the front for Accept).
onNotificationAction((e) => {
  if (model.incoming?.id === e.id) answer(e.action === "accept");
});

onIncomingEnded((e) => {
  if (e.entry && model.status) model.status.history.entries = [e.entry, ...model.status.history.entries];
  const notice = offerEndedNotice(e, findContact(contactList(), e.entry?.target ?? "")?.name ?? null);
  if (notice) addBanner({ text: notice, kind: "info" });
  if (model.incoming?.id === e.id && e.outcome !== "answered") showIncoming(null);
  else render();
});

render();
start();
