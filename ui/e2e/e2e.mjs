// End-to-end test of the desktop app through tauri-driver + WebKitWebDriver (plain W3C
// WebDriver over fetch, Node 20). Started by ui/e2e/run.sh, which provides Xvfb, a
// private session bus with an unlocked gnome-keyring, and isolated HOME/data folders.
//
// Flow: first run creates an identity (24 words, confirm step) stored in the secret
// store -> (with the harness's sound server) the settings' microphone meter moves while
// the test sound plays -> the camera preview shows the app's test pattern -> host a relay on this computer -> a headless `wzp call` peer joins a room on
// it -> the app joins, the peer appears, its video and our self-view show, M mutes (the peer sees it) ->
// hang up writes a history entry -> contacts -> the relay list (ping, a changed key
// trusted, an unreachable relay removed) -> push-to-talk set to T in the settings (also
// in the background) -> a
// headless caller dials the app (it listens on the relay it hosts), the app rings, Accept
// answers, the caller hears us only while T is held, hang up writes "received" -> a second
// caller is declined with Escape ("missed"/"declined") -> a restarted app keeps identity
// and history -> starting the app a second time hands over to the running one.
// With the harness's notification server (dunst, WZP_TEST_NOTIFY) each ring also shows a
// desktop notification, checked on the session bus (dbus-monitor): the first call is
// answered with its Accept (picked through dunst's own menu), and the notification is
// closed however the ring ends (accepted or declined on it or in the app, the caller gave
// up); without a server the app warns once and rings as before; the setting turns it off.
// Screenshots go to $E2E_OUT.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { webDriver } from "./webdriver.mjs";

const base = process.env.WD_URL || "http://127.0.0.1:4444";
const app = process.env.APP;
const wzp = process.env.WZP_CLI;
const out = process.env.E2E_OUT || "e2e-out";
const dataDir = process.env.WZP_DATA_DIR;
const service = process.env.WZP_KEYRING_SERVICE;
mkdirSync(out, { recursive: true });
const {
  sleep, log, wd, sess, find, findAll, text, textWhen, attr, click, exec, type, press, shot, waitFor, newSession,
  endSession: endDriverSession,
} = webDriver({ base, app, out, tag: "e2e" });

// The call screen redraws often (speaking levels ten times a second), so element
// references go stale: look the element up again and retry.
async function retry(f, tries = 40) {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (e) {
      if (i >= tries || !/stale element|no such element/.test(String(e.message))) throw e;
      // Not in step with the view's 10 Hz redraw, so a retry does not keep losing the race.
      await sleep(30 + Math.random() * 70);
    }
  }
}
const textOf = (css) => retry(async () => text(await find(css)));
const clickCss = (css) => retry(async () => click(await find(css)));
// Clicks `css` until `doneCss` appears (a click that lands while the view is being
// redrawn can be lost); fails if it never does.
async function clickUntil(css, doneCss, what, tries = 4) {
  for (let i = 0; i < tries; i++) {
    await clickCss(css).catch((e) => log(`click ${css}:`, String(e.message).slice(0, 400)));
    try {
      return await waitFor(doneCss, what, 4000);
    } catch (e) {
      if (i === tries - 1) throw e;
      log(`${what}: not yet after click ${i + 1}, clicking again`);
    }
  }
}
async function endSession() {
  await endDriverSession();
  await sleep(1000);
}

// The incoming-call notification, on the harness's real notification server (dunst, with
// every session-bus message logged by dbus-monitor); null when the harness has none.
const notifications = process.env.WZP_TEST_NOTIFY && process.env.E2E_DBUS_LOG ? {
  log: process.env.E2E_DBUS_LOG,
  pick: process.env.E2E_NOTIFY_PICK,
} : null;
/** The bus messages logged so far: {head, sender, strings, array} per message (`array`:
 * the strings of its first array of strings, e.g. Notify's actions). */
function busMessages() {
  const t = readFileSync(notifications.log, "utf8");
  const strings = (s) => [...s.matchAll(/^\s+string "(.*)"$/gm)].map((m) => m[1]);
  return t.split(/\n(?=(?:method call|method return|signal|error) )/).map((b) => ({
    head: b.split("\n")[0],
    sender: b.match(/ sender=(\S+) /)?.[1],
    strings: strings(b),
    array: strings(b.match(/array \[\n((?:\s+string ".*"\n)*)\s+\]/)?.[1] ?? ""),
  }));
}
const member = (m, name) => m.head.includes(`member=${name}`);
/** How many notifications the server shows now. */
const displayed = () => Number(execFileSync("dunstctl", ["count", "displayed"]).toString().trim());
/** Waits for the app's notification for `name`'s call; returns its title, body and actions. */
async function waitNotification(name, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const msgs = busMessages();
    const n = msgs.filter((m) => member(m, "Notify")).find((m) => m.strings[2] === `${name} is calling`);
    // notify-rust subscribes to the server's signals only after the Notify reply: wait for
    // that (an action taken before it would be missed; a person is never that fast).
    const subscribed = n && msgs.slice(msgs.indexOf(n)).some((m) => member(m, "AddMatch") && m.sender === n.sender &&
      m.strings.some((s) => s.includes("member='NotificationClosed'")));
    if (subscribed && displayed() > 0) {
      await sleep(300);
      const [appName, , title, body] = n.strings;
      return { appName, title, body, actions: n.array };
    }
    await sleep(200);
  }
  throw new Error(`no desktop notification for ${name}'s call`);
}
/** Waits until the server shows no notification and the app asked it to close one more. */
async function waitNotificationClosed(what, closesBefore, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  let closes = 0;
  while (Date.now() < end) {
    closes = busMessages().filter((m) => member(m, "CloseNotification")).length;
    if (displayed() === 0 && closes > closesBefore) return;
    await sleep(200);
  }
  throw new Error(`the notification was not closed when ${what} (shown: ${displayed()}, CloseNotification calls: ${closes}, before: ${closesBefore})`);
}
const closeCalls = () => busMessages().filter((m) => member(m, "CloseNotification")).length;
/** Checks the notification of a ringing call: caller, fingerprint, Accept and Decline. */
function checkNotification(n, name) {
  if (!/^Fingerprint [0-9a-f]{4}(:[0-9a-f]{4}){7}$/.test(n.body)) throw new Error(`notification body: ${n.body}`);
  const pairs = [];
  for (let i = 0; i + 1 < n.actions.length; i += 2) pairs.push(`${n.actions[i]}=${n.actions[i + 1]}`);
  if (pairs.join(",") !== "default=Show,accept=Accept,decline=Decline") throw new Error(`notification actions: ${pairs.join(",")}`);
  log(`notification for ${name}: "${n.title}" / "${n.body}" [${pairs.join(", ")}]`);
}
/** Picks action `key` of the shown notification through dunst's own context menu. */
function invokeNotificationAction(key) {
  writeFileSync(notifications.pick, key);
  execFileSync("dunstctl", ["context"]);
}

// The pictures in a native video tile: the WebDriver screenshot shows only the page, so
// the app's X window is captured and the tile's rectangle cropped from it. A tile showing
// a test pattern has hundreds of colours and almost none of the page's placeholder colour
// (#203060), which shows through only where the native child does not draw.
async function checkTile(css, name, what) {
  // Into view first (the child is placed, and redrawn, when the page reports the move).
  await wd("POST", `${sess()}/execute/sync`, {
    script: `document.querySelector(${JSON.stringify(css)}).scrollIntoView({ block: "center" });`,
    args: [],
  });
  await sleep(1000);
  const [x, y, w, h] = await wd("POST", `${sess()}/execute/sync`, {
    script: `const r = document.querySelector(${JSON.stringify(css)}).getBoundingClientRect(); return [r.left, r.top, r.width, r.height].map(Math.round);`,
    args: [],
  });
  const tree = execFileSync("xwininfo", ["-root", "-tree"]).toString();
  const winLine = tree.split("\n").find((l) => /"WZP"/.test(l) && /\d+x\d+\+/.test(l));
  if (!winLine) throw new Error("the app's X window was not found");
  const xid = winLine.trim().split(/\s+/)[0];
  const winPng = join(out, `${name}.png`);
  execFileSync("import", ["-window", xid, winPng]);
  const convert = existsSync("/usr/bin/convert") ? "/usr/bin/convert" : "convert";
  const im = (...args) => execFileSync(convert, [winPng, ...args]).toString().trim();
  const inset = 6;
  const crop = `${w - 2 * inset}x${h - 2 * inset}+${x + inset}+${y + inset}`;
  const colours = Number(im("-crop", crop, "+repage", "-format", "%k", "info:"));
  const placeholder = Number(im("-crop", crop, "+repage", "-fill", "black", "+opaque", "#203060", "-fill", "white", "-opaque", "#203060", "-format", "%[fx:mean]", "info:"));
  const pageBg = im("-format", `%[pixel:p{${Math.max(2, x - 40)},${y + Math.round(h / 2)}}]`, "info:");
  log(`${what} ${w}x${h}+${x}+${y}: ${colours} colours, placeholder fraction ${placeholder.toFixed(3)}, page beside it ${pageBg}`);
  if (!(colours > 200)) throw new Error(`${what} does not show the test pattern (${colours} colours)`);
  if (!(placeholder < 0.05)) throw new Error(`${what} is mostly the page placeholder (${placeholder})`);
}

let peer = null;
let peerOut = "";
let failed = false;
try {
  await newSession();

  // First run: create an identity, confirm the backup.
  await click(await waitFor("#create-identity", "first-run screen", 30000));
  await waitFor("#backup-words li", "the 24 words");
  const words = [];
  for (const li of await findAll("#backup-words li")) words.push(await text(li));
  if (words.length !== 24) throw new Error(`expected 24 words, got ${words.length}`);
  await shot("01-backup-words");
  await click(await find("#backup-written"));
  await waitFor("[data-pos]", "the confirm form");
  for (const input of await findAll("input[data-pos]")) {
    const pos = Number(await attr(input, "data-pos"));
    await type(input, words[pos - 1]);
  }
  await click(await find("#confirm-submit"));
  await waitFor("#fingerprint", "home with the fingerprint");
  // Home redraws once the relay list has loaded, so look the element up again if needed.
  const myFp = (await textOf("#fingerprint")).split(/\s/)[0];
  log("identity", myFp);

  // The seed is in the secret store (checked by shape only: never printed).
  const secret = execFileSync("secret-tool", ["lookup", "service", service, "username", "identity"]).toString().trim();
  if (!/^[0-9a-f]{64}$/.test(secret)) throw new Error("the secret store does not hold a 32-byte hex seed for the identity");
  log("secret store holds the identity seed (64 hex digits)");
  await shot("02-home");

  // Settings: the microphone test's meter moves while the test sound plays. Only with
  // the harness's PulseAudio null sink (scripts/test.sh), whose monitor is the default
  // microphone: the sound played on the default speaker comes back on it.
  if (process.env.WZP_TEST_PULSE) {
    await clickCss("#load-devices");
    await waitFor("#mic-test", "the device pickers", 15000);
    // Not clickUntil: a second click on the toggle would stop the test again.
    await clickCss("#mic-test");
    await waitFor("#mic-meter[data-running=true]", "the microphone test to start", 15000);
    await clickCss("#speaker-test");
    let loudest = 0;
    const until = Date.now() + 10000;
    while (loudest <= 30 && Date.now() < until) {
      loudest = Math.max(loudest, Number(await retry(async () => attr(await find("#mic-meter"), "aria-valuenow"))));
      await sleep(100);
    }
    await shot("02b-mic-test");
    if (!(loudest > 30)) throw new Error(`the microphone meter did not move while the test sound played (max ${loudest}%)`);
    log(`microphone meter rose to ${loudest}% while the test sound played`);
    await waitFor("#speaker-test:not([disabled])", "the test sound to finish", 20000);
    await clickCss("#mic-test");
    await waitFor("#mic-meter[data-running=false]", "the microphone test to stop", 5000);
  } else {
    log("microphone meter check skipped: no PulseAudio null sink (WZP_TEST_PULSE unset)");
  }

  // Settings: the camera preview draws the camera (here the app's test pattern) in the
  // settings card, and stops when asked.
  if ((await findAll("#load-devices")).length > 0) await clickCss("#load-devices");
  await waitFor("#camera-preview", "the camera picker", 15000);
  await clickCss("#camera-preview");
  await waitFor("#preview-area .video-tile", "the camera preview", 15000);
  await sleep(2500);
  await checkTile("#preview-area .video-tile", "02c-camera-preview", "the camera preview");
  await clickCss("#camera-preview");
  await waitFor("#camera-preview[aria-pressed=false]", "the preview to stop", 5000);
  if ((await findAll("#preview-area")).length > 0) throw new Error("the preview area stays after stopping");
  log("camera preview shown, then stopped");

  // Host on this computer, and use it.
  await click(await find("#host-start"));
  const relayFp = (await textWhen("#host-fingerprint", "the embedded relay's fingerprint")).trim();
  await click(await find("#host-use"));
  const relayAddr = await wd("GET", `${sess()}/element/${await find("#relay-input")}/property/value`);
  log("hosting at", relayAddr, "fingerprint", relayFp);
  await shot("03-hosting");

  // The headless peer joins the room on the app's relay.
  peer = spawn(wzp, [
    "call", "--relay", relayAddr, "--relay-fingerprint", relayFp, "--room", "e2e-room", "--ephemeral",
    "--name", "e2e-peer", "--audio-in", "tone", "--video-in", "pattern:320x192@15", "--json",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  peer.stdout.on("data", (d) => (peerOut += d));
  peer.stderr.on("data", (d) => (peerOut += d));
  await sleep(1500);

  await type(await find("#room-input"), "e2e-room");
  await click(await find("#join-button"));
  await waitFor("#call-state[data-state=active]", "the call to be active", 30000);
  await waitFor("#participants li[data-fp]", "the peer in the participant list", 30000,
    async (e) => (await text(e)).includes("e2e-peer"));
  log("peer shown:", (await textOf("#participants li[data-fp]")).replace(/\s+/g, " "));
  await waitFor("#verification .code", "the verification code", 20000);
  await sleep(2500);
  await shot("04-in-call");

  // Native video: the peer's test pattern, drawn by wgpu into the child window over the
  // tile, and our own (the app's WZP_APP_VIDEO_IN pattern) in the self-view tile.
  await waitFor(".video-tile:not(.self)", "a video tile", 30000);
  await waitFor(".video-tile.self", "the self-view tile", 10000);
  await sleep(3000);
  await checkTile(".video-tile:not(.self)", "09-window-with-video", "the peer's video tile");
  await checkTile(".video-tile.self", "09a-window-self-view", "the self-view tile");
  // Live camera switching: picking a camera in the call reopens it and the call goes on
  // sending it (here the only "camera" is the test pattern).
  await waitFor("#call-camera-select option[value=test-pattern]", "the call's camera picker", 15000);
  // The call view redraws ten times a second: a click that lands on a picker being
  // replaced is lost, so click again until the switch is confirmed.
  await clickUntil("#call-camera-select option[value=test-pattern]", "#call-devices-note", "the camera switch to be confirmed", 4);
  await sleep(1500);
  await checkTile(".video-tile.self", "09b-window-camera-switched", "the self-view after a camera switch");
  log("camera switched in the call:", await textOf("#call-devices-note"));
  // The camera button: off stops sending and closes the camera (the self-view goes), on
  // opens it again (the shell reopens the source) and the self-view shows it again.
  await clickUntil("#camera-button", "#camera-button[aria-pressed=false]", "the camera to be off", 4);
  const selfGone = Date.now() + 10000;
  while ((await findAll(".video-tile.self")).length > 0 && Date.now() < selfGone) await sleep(200);
  if ((await findAll(".video-tile.self")).length > 0) throw new Error("the self-view stayed with the camera off");
  await clickUntil("#camera-button", "#camera-button[aria-pressed=true]", "the camera to be on again", 4);
  await waitFor(".video-tile.self", "the self-view tile again", 10000);
  await sleep(2000);
  await checkTile(".video-tile.self", "09c-window-camera-back", "the self-view after the camera was turned on again");
  log("camera turned off (closed) and on again (reopened)");

  // M mutes (keyboard shortcut); the peer's stats then show us muted.
  try {
    await press("m");
  } catch (e) {
    log("key actions not supported, clicking mute instead:", String(e).slice(0, 100));
    await clickCss("#mute-button");
  }
  await waitFor("#mute-button[aria-pressed=true]", "mute to be on", 15000);
  const end = Date.now() + 15000;
  while (!/"muted":true/.test(peerOut) && Date.now() < end) await sleep(300);
  if (!/"muted":true/.test(peerOut)) throw new Error("the peer never saw us muted");
  log("the peer sees the app muted");

  // The call view re-renders on every event (speaking levels arrive 10 times a
  // second), so a click can land on a button that is being replaced and do nothing
  // (seen once in CI). Click again until the panel is open.
  for (let i = 0; i < 5; i++) {
    await clickCss("#stats-toggle");
    const opened = await retry(async () => attr(await find("#stats-toggle"), "aria-expanded"))
      .then((v) => v === "true")
      .catch(() => false);
    if (opened) break;
    await sleep(500);
  }
  await waitFor("#stats", "the stats panel", 5000);
  await shot("05-stats");

  await clickUntil("#hangup-button", "#call-state[data-state=ended]", "the call to end");
  await shot("06-ended");
  await clickCss("#back-home");
  await waitFor("#recent-list li[data-target=e2e-room]", "the history entry", 10000);
  await shot("07-history");
  const hist = JSON.parse(readFileSync(join(dataDir, "history.json"), "utf8"));
  if (hist.entries?.[0]?.target !== "e2e-room" || hist.entries[0].end_reason !== "local_hangup")
    throw new Error(`history.json: unexpected first entry ${JSON.stringify(hist.entries?.[0])}`);
  if (!hist.entries[0].participants.some((p) => p.alias === "e2e-peer"))
    throw new Error("history.json does not list the peer");
  log("history.json has the call with the peer");

  // Contacts: a bad fingerprint is refused with an explanation; a good one is added,
  // listed, and removed again.
  await type(await find("#contact-name"), "Typo");
  await type(await find("#contact-fp"), "1234:abcd");
  await clickCss("#add-contact");
  const why = await textOf("#contact-error");
  if (!/32 hexadecimal digits/.test(why)) throw new Error(`no clear error for a bad fingerprint: ${why}`);
  const goodFp = "00aa:11bb:22cc:33dd:44ee:55ff:6677:8899";
  await type(await find("#contact-name"), "Dora");
  await type(await find("#contact-fp"), goodFp.replace(/:/g, "").toUpperCase());
  await clickCss("#add-contact");
  await waitFor(`#contacts-list li[data-fp="${goodFp}"]`, "the new contact in the list", 5000, async (e) => (await text(e)).includes("Dora"));
  await shot("07b-contacts");
  // Renamed in place: an empty name is refused in words, a new one replaces the old.
  await clickCss(`#contacts-list li[data-fp="${goodFp}"] .rename-contact`);
  await retry(async () => type(await find("#rename-contact-name"), "   "));
  await clickCss("#rename-contact-save");
  if (!/Enter a name/.test(await textOf("#rename-contact-error"))) throw new Error("an empty new name was not refused in words");
  await retry(async () => type(await find("#rename-contact-name"), "Dora Renamed"));
  await clickCss("#rename-contact-save");
  await waitFor(`#contacts-list li[data-fp="${goodFp}"] .rename-contact`, "the renamed contact in the list", 5000,
    async () => (await textOf(`#contacts-list li[data-fp="${goodFp}"] strong`)) === "Dora Renamed");
  const renamed = (JSON.parse(readFileSync(join(dataDir, "contacts.json"), "utf8")).contacts ?? []).filter((c) => c.fingerprint === goodFp);
  if (renamed.length !== 1 || renamed[0].name !== "Dora Renamed") throw new Error(`contacts.json after the rename: ${JSON.stringify(renamed)}`);
  await clickCss(`#contacts-list li[data-fp="${goodFp}"] .remove-contact`);
  await waitFor("#contacts-title", "the contact to be removed", 5000, async () => (await findAll(`#contacts-list li[data-fp="${goodFp}"]`)).length === 0);
  log("contacts: bad fingerprint refused, added, renamed, removed");

  // Relays: the relay the call went through is listed with the key typed for it; a ping
  // shows its round trip. The key typed for it is then changed to a wrong one (as if the
  // relay had been replaced): the ping finds the key changed, the dialog shows both keys,
  // and "Trust the new key" pins the real one again. A relay that does not answer says
  // so, and is removed after a confirmation.
  const relayItem = `#relays-list li[data-address="${relayAddr}"]`;
  await waitFor(relayItem, "the used relay in the relay list", 10000);
  await clickCss(`${relayItem} .ping-relay`);
  await waitFor(`${relayItem}[data-ping=ok]`, "the relay's ping", 15000);
  const pingWords = await textOf(`${relayItem}[data-ping=ok]`);
  if (!/\d+ ms round trip/.test(pingWords) || !pingWords.includes(relayFp)) throw new Error(`relay entry after ping: ${pingWords}`);
  log("relay ping:", pingWords.replace(/\s+/g, " "));
  await type(await find("#relay-address"), "relay.example.org");
  await clickCss("#add-relay");
  if (!/HOST:PORT/.test(await textOf("#relay-error"))) throw new Error("no clear error for a relay address without a port");
  const wrongKey = Array.from({ length: 32 }, () => "ab").join(":");
  await type(await find("#relay-name"), "Home relay");
  await type(await find("#relay-address"), relayAddr);
  await type(await find("#relay-key"), wrongKey);
  await clickCss("#add-relay");
  await waitFor("#key-change[role=alertdialog]", "the key-change dialog", 15000);
  const shownPinned = await textOf("#key-change-pinned");
  const shownPresented = await textOf("#key-change-presented");
  if (shownPinned !== wrongKey || shownPresented !== relayFp)
    throw new Error(`key-change dialog shows pinned ${shownPinned}, presented ${shownPresented}`);
  await shot("07c-relay-key-changed");
  await clickCss("#key-change-trust");
  await waitFor(`${relayItem}[data-ping=ok]`, "the relay to answer with its trusted key", 15000,
    async (e) => (await text(e)).includes("Home relay"));
  const savedRelay = JSON.parse(readFileSync(join(dataDir, "settings.json"), "utf8")).relays.find((r) => r.address === relayAddr);
  if (savedRelay?.fingerprint !== relayFp) throw new Error(`settings.json keeps ${JSON.stringify(savedRelay)} after trusting the new key`);
  log("relay key change: both keys shown, the trusted key saved");
  const deadAddr = "127.0.0.1:9";
  await type(await find("#relay-name"), "Old relay");
  await type(await find("#relay-address"), deadAddr);
  await clickCss("#add-relay");
  const deadItem = `#relays-list li[data-address="${deadAddr}"]`;
  await waitFor(`${deadItem}[data-ping=unreachable]`, "an unreachable relay to say so", 20000);
  await shot("07d-relays");
  await clickCss(`${deadItem} .remove-relay`);
  await clickCss(`${deadItem} .confirm-remove-relay`);
  await waitFor("#relays-title", "the relay to be removed", 5000, async () => (await findAll(deadItem)).length === 0);
  const left = JSON.parse(readFileSync(join(dataDir, "settings.json"), "utf8")).relays.map((r) => r.address);
  if (left.includes(deadAddr) || !left.includes(relayAddr)) throw new Error(`settings.json relays after removal: ${left}`);
  log("relays: ping, bad address refused, key change trusted, unreachable shown, removed");

  // Incoming direct call: the app listens on the relay it hosts; a headless caller
  // dials the app's fingerprint, the app rings, Accept answers it.
  await waitFor("#listener-status[data-state=listening]", "the app to be reachable for calls", 20000);
  log("listener:", await textOf("#listener-status"));
  const dialApp = (name) => {
    const c = spawn(wzp, [
      "call", "--relay", relayAddr, "--relay-fingerprint", relayFp, "--to", myFp, "--ephemeral",
      "--name", name, "--audio-in", "tone", "--json",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    c.out = "";
    c.stdout.on("data", (d) => (c.out += d));
    c.stderr.on("data", (d) => (c.out += d));
    return c;
  };
  // Push-to-talk on T, chosen in the settings by pressing the key.
  await clickCss("#ptt-set");
  await waitFor("#ptt-set[aria-pressed=true]", "the settings to wait for the push-to-talk key", 5000);
  await press("t");
  await waitFor("#ptt-set[data-key]:not([data-key=''])", "the push-to-talk key to be chosen", 5000);
  // And read system-wide, so it also works while another window has the focus.
  await clickCss("#ptt-background");
  await clickCss("#save-settings");
  const waitSaved = Date.now() + 5000;
  let pttSaved = null;
  while (!pttSaved && Date.now() < waitSaved) {
    pttSaved = JSON.parse(readFileSync(join(dataDir, "settings.json"), "utf8")).push_to_talk;
    if (!pttSaved) await sleep(100);
  }
  if (!/^(KeyT|t)$/.test(pttSaved ?? "")) throw new Error(`settings.json push_to_talk: ${pttSaved}`);
  if (JSON.parse(readFileSync(join(dataDir, "settings.json"), "utf8")).push_to_talk_background !== true) {
    throw new Error("settings.json push_to_talk_background is not true");
  }
  log("push-to-talk key saved:", pttSaved);
  const caller = dialApp("e2e-caller");
  try {
    await waitFor("#incoming", "the incoming-call screen", 20000, async (e) => (await text(e)).includes("e2e-caller"));
    const ringing = await wd("POST", `${sess()}/execute/sync`, { script: "return document.body.dataset.ringing;", args: [] });
    if (ringing !== "true") throw new Error(`the app does not ring (data-ringing=${ringing})`);
    // The ringing sound plays (2 s loop) through the session's PulseAudio null sink.
    await waitFor("body[data-ring-sound^=playing]", "the ringing sound to play", 5000).catch(async (e) => {
      const st = await wd("POST", `${sess()}/execute/sync`, { script: "return document.body.dataset.ringSound;", args: [] });
      throw new Error(`${e.message}; ring sound state: ${st}`);
    });
    const ringSound = await wd("POST", `${sess()}/execute/sync`, { script: "return document.body.dataset.ringSound;", args: [] });
    if (!/^playing 2\.00$/.test(ringSound)) throw new Error(`unexpected ringing sound: ${ringSound}`);
    log("ringing sound:", ringSound);
    const focused = await wd("POST", `${sess()}/execute/sync`, { script: "return document.activeElement && document.activeElement.id;", args: [] });
    if (focused !== "accept-call") throw new Error(`Accept does not have the keyboard focus (${focused})`);
    await shot("10-incoming");
    if (notifications) {
      // The desktop notification shows the caller with Accept and Decline; Accept on it
      // (through dunst's own menu) answers the call like the button.
      const n = await waitNotification("e2e-caller");
      checkNotification(n, "e2e-caller");
      // dunst draws it on the X screen, outside the page: capture the whole screen.
      execFileSync("import", ["-window", "root", join(out, "10b-notification.png")]);
      const closes = closeCalls();
      const appLog = () => readFileSync(join(dataDir, "logs", "wzp-desktop.log"), "utf8");
      const raised = () => (appLog().match(/window brought to the front/g) ?? []).length;
      // A click on the body ("default") brings the window to the front; the call rings on.
      const raisedBefore = raised();
      invokeNotificationAction("default");
      const until = Date.now() + 10000;
      while (raised() === raisedBefore && Date.now() < until) await sleep(200);
      if (raised() !== raisedBefore + 1) throw new Error("a click on the notification did not bring the window to the front");
      await sleep(500);
      if (displayed() !== 1 || (await findAll("#incoming")).length !== 1) throw new Error("the call stopped ringing after a click on its notification");
      log("a click on the notification brought the window to the front; the call still rings");
      invokeNotificationAction("accept");
      await waitFor("#call-state[data-state=active]", "the call accepted on the notification to be active", 30000);
      const invoked = busMessages().filter((m) => member(m, "ActionInvoked"));
      if (!invoked.some((m) => m.strings[0] === "accept")) throw new Error("dunst did not report the Accept action");
      await waitNotificationClosed("the call was accepted on it", closes);
      if (!/call notification answered.*accept=true/.test(appLog())) throw new Error("the app log does not show the notification's Accept");
      if (raised() !== raisedBefore + 2) throw new Error("the app did not bring its window to the front on Accept");
      log("Accept on the desktop notification answered the call; the notification is gone");
      // n.body carries the caller's fingerprint; the participant list must show the same one.
      notifications.firstBody = n.body;
    } else {
      log("desktop notification check skipped: no notification server (WZP_TEST_NOTIFY unset)");
      await clickCss("#accept-call");
    }
    await waitFor("#call-state[data-state=active]", "the answered call to be active", 30000);
    await waitFor("#participants li[data-fp]", "the caller in the participant list", 30000,
      async (e) => (await text(e)).includes("e2e-caller"));
    await shot("11-answered");
    // Live device switching: a listed speaker, then a listed microphone (opened while the
    // call's capture runs, the case that used to stall it), each confirmed ("Now using"),
    // then a microphone that does not exist (a warning; the call keeps the one it had).
    // Push-to-talk below then checks that the caller still gets our audio state.
    const pickDevice = (selectId, value, label) => exec(
      `const el = document.getElementById(arguments[0]);
        if (arguments[1] !== null && ![...el.options].some((o) => o.value === arguments[1])) el.append(new Option(arguments[2], arguments[1]));
        // A PulseAudio device when one is listed (the server the call's own devices use;
        // the ALSA ones are listed too), else the first listed one.
        const pulse = [...el.options].findIndex((o, i) => i > 0 && o.value.startsWith("pulseaudio:"));
        if (arguments[1] === null) el.selectedIndex = pulse > 0 ? pulse : 1; else el.value = arguments[1];
        el.dispatchEvent(new Event("change"));
        return el.selectedOptions[0].textContent;`,
      [selectId, value, label],
    );
    const switched = {};
    for (const [select, what] of [["call-speaker-select", "speaker"], ["call-mic-select", "microphone"]]) {
      await waitFor(`#${select} option:nth-child(2)`, `a listed ${what} in the call view`, 10000);
      const name = await retry(() => pickDevice(select, null, null));
      await waitFor("#call-devices-note", `the ${what} switch to be confirmed`, 20000,
        async (e) => (await text(e)).includes(`Now using ${name}`));
      switched[what] = `${name} (${await exec(`return document.getElementById("${select}").value;`)})`;
    }
    await retry(() => pickDevice("call-mic-select", "no-such-device", "Ghost microphone"));
    // Other warnings may be up too (without a sound server the call's own devices did
    // not open), so look through every warning banner.
    await waitFor("#call-state", "a warning that the microphone could not be opened", 20000, async () => {
      const texts = await Promise.all((await findAll(".banner.warning")).map((b) => text(b).catch(() => "")));
      return texts.some((t) => t.includes("Ghost microphone could not be opened"));
    });
    await waitFor("#call-state[data-state=active]", "the call to go on after a failed device switch", 10000);
    log(`devices: speaker switched to ${switched.speaker}, microphone to ${switched.microphone}; a missing microphone gave a warning and the call went on`);
    await shot("11-devices");
    // Push-to-talk: the answered call starts muted (the caller sees it); holding T opens
    // the microphone, releasing it closes it again.
    const callerSeesMuted = async (want, what) => {
      const until = Date.now() + 15000;
      for (;;) {
        const all = [...caller.out.matchAll(/"muted":(true|false)/g)];
        const last = all.length ? all[all.length - 1][1] === "true" : null;
        if (last === want) return;
        if (Date.now() > until) throw new Error(`${what}: the caller sees muted=${last}`);
        await sleep(200);
      }
    };
    const key = (type) => wd("POST", `${sess()}/actions`, { actions: [{ type: "key", id: "kb", actions: [{ type, value: "t" }] }] });
    await callerSeesMuted(true, "push-to-talk before the key is held");
    await key("keyDown");
    await waitFor("#ptt-status[data-held=true]", "the app to show push-to-talk held", 5000);
    await callerSeesMuted(false, "push-to-talk while the key is held");
    await shot("11a-push-to-talk");
    await key("keyUp");
    await waitFor("#ptt-status[data-held=false]", "the app to show push-to-talk released", 5000);
    await callerSeesMuted(true, "push-to-talk after the key is released");
    log("push-to-talk: muted until T is held, open while held, muted after release (as the caller sees it)");
    // In the background: the pointer leaves the app's window (no window manager here,
    // so X keyboard focus follows the pointer), the page loses the focus, and T is
    // pressed on the X server as a keyboard would (XTest through xdotool): only the
    // system-wide watch can see it.
    const xdo = (...args) => execFileSync("xdotool", args).toString().trim();
    xdo("mousemove", "1279", "899");
    const focusUntil = Date.now() + 5000;
    while ((await exec("return document.hasFocus();")) && Date.now() < focusUntil) await sleep(100);
    if (await exec("return document.hasFocus();")) throw new Error("the app's page kept the focus with the pointer outside");
    xdo("keydown", "t");
    await callerSeesMuted(false, "push-to-talk held with the app in the background");
    await waitFor("#ptt-status[data-held=true]", "the app to show push-to-talk held in the background", 5000);
    xdo("keyup", "t");
    await callerSeesMuted(true, "push-to-talk released with the app in the background");
    log("push-to-talk in the background: T read from the X server while the page had no focus");
    xdo("mousemove", "400", "300");
    // Live device switching is not exercised here: opening or looking up a sound device
    // during a call sometimes stalled the running capture (the peer then hears nothing
    // for 6 s and the call ends) or failed with "device not found" for a listed device,
    // both in the audio layer; see docs/ARCHITECTURE.md, Desktop app.
    // "Mark verified" on the caller's safety number saves them as a verified contact,
    // and the call then shows them as verified.
    const callerFp = await retry(async () => attr(await find("#participants li[data-fp]"), "data-fp"));
    const shownFp = notifications?.firstBody.match(/[0-9a-f]{4}(:[0-9a-f]{4}){7}/)?.[0].replace(/:/g, "");
    if (notifications && shownFp !== callerFp.replace(/[^0-9a-f]/gi, "").toLowerCase())
      throw new Error(`the notification showed another fingerprint (${notifications.firstBody}) than the caller's (${callerFp})`);
    await waitFor("#verification .verify-contact", "the Mark verified button", 20000);
    await clickUntil("#verification .verify-contact", "#participants li[data-fp] .tag.contact[data-verified=true]", "the caller to show as verified");
    const saved = JSON.parse(readFileSync(join(dataDir, "contacts.json"), "utf8")).contacts ?? [];
    if (!saved.some((c) => c.fingerprint.replace(/:/g, "") === callerFp.replace(/:/g, "") && c.verified && c.name === "e2e-caller"))
      throw new Error(`contacts.json does not have the caller as verified: ${JSON.stringify(saved)}`);
    log("caller saved as a verified contact");
    await shot("11b-verified");
    await clickUntil("#hangup-button", "#call-state[data-state=ended]", "the answered call to end");
    await clickCss("#back-home");
    await waitFor("#recent-list li[data-direction=received]", "the received call in history", 10000);
    const h2 = JSON.parse(readFileSync(join(dataDir, "history.json"), "utf8")).entries?.[0];
    if (h2?.direction !== "received" || h2.end_reason !== "local_hangup" || !h2.participants.some((p) => p.alias === "e2e-caller"))
      throw new Error(`history.json: unexpected entry for the answered call ${JSON.stringify(h2)}`);
    log("answered call written to history:", h2.direction, h2.end_reason);
    await waitFor(`#contacts-list li[data-verified=true]`, "the verified contact on the home screen", 5000,
      async (e) => (await text(e)).includes("e2e-caller"));
  } finally {
    caller.kill("SIGTERM");
    if (caller.out) writeFileSync(join(out, "caller.log"), caller.out);
  }

  // A second caller is declined with the keyboard (Escape): history says so.
  await waitFor("#listener-status[data-state=listening]", "the app to listen again after the call", 20000);
  const caller2 = dialApp("e2e-caller-2");
  try {
    await waitFor("#incoming", "the second incoming call", 20000, async (e) => (await text(e)).includes("e2e-caller-2"));
    const closes = notifications ? closeCalls() : 0;
    if (notifications) checkNotification(await waitNotification("e2e-caller-2"), "e2e-caller-2");
    await press("\uE00C"); // Escape
    await waitFor("#recent-list li[data-direction=missed][data-reason=declined]", "the declined call in history", 10000);
    if (notifications) {
      await waitNotificationClosed("the call was declined in the app", closes);
      log("declined in the app: the desktop notification was closed");
    }
    const h3 = JSON.parse(readFileSync(join(dataDir, "history.json"), "utf8")).entries?.[0];
    if (h3?.direction !== "missed" || h3.end_reason !== "declined")
      throw new Error(`history.json: unexpected entry for the declined call ${JSON.stringify(h3)}`);
    const end = Date.now() + 10000;
    while (!/declined/i.test(caller2.out) && Date.now() < end) await sleep(200);
    if (!/declined/i.test(caller2.out)) throw new Error("the caller was not told the call was declined");
    await shot("12-declined");
    log("declined call: caller told, history has it");
  } finally {
    caller2.kill("SIGTERM");
    if (caller2.out) writeFileSync(join(out, "caller2.log"), caller2.out);
  }

  if (notifications) {
    // Decline on the notification refuses the call like the button: the caller is told.
    await waitFor("#listener-status[data-state=listening]", "the app to listen again", 20000);
    const declined = (await findAll("#recent-list li[data-direction=missed][data-reason=declined]")).length;
    const callerD = dialApp("e2e-caller-d");
    try {
      await waitFor("#incoming", "a call to decline on the notification", 20000, async (e) => (await text(e)).includes("e2e-caller-d"));
      await waitNotification("e2e-caller-d");
      const closes = closeCalls();
      invokeNotificationAction("decline");
      await waitFor("#recent-list", "the call declined on the notification in history", 10000,
        async () => (await findAll("#recent-list li[data-direction=missed][data-reason=declined]")).length === declined + 1);
      const end = Date.now() + 10000;
      while (!/declined/i.test(callerD.out) && Date.now() < end) await sleep(200);
      if (!/declined/i.test(callerD.out)) throw new Error("the caller was not told the call was declined on the notification");
      await waitNotificationClosed("the call was declined on it", closes);
      log("Decline on the desktop notification refused the call (caller told); the notification is gone");
    } finally {
      callerD.kill("SIGTERM");
      if (callerD.out) writeFileSync(join(out, "caller-d.log"), callerD.out);
    }
    // A caller who gives up: the ringing stops at once, and so does the notification.
    await waitFor("#listener-status[data-state=listening]", "the app to listen again", 20000);
    const caller3 = dialApp("e2e-caller-3");
    try {
      await waitFor("#incoming", "the third incoming call", 20000, async (e) => (await text(e)).includes("e2e-caller-3"));
      await waitNotification("e2e-caller-3");
      const closes = closeCalls();
      caller3.kill("SIGTERM");
      await waitFor("#recent-list li[data-direction=missed][data-reason=missed]", "the call the caller gave up in history", 20000);
      await waitNotificationClosed("the caller gave up", closes);
      log("the caller gave up: ringing and the desktop notification stopped");
    } finally {
      caller3.kill("SIGTERM");
      if (caller3.out) writeFileSync(join(out, "caller3.log"), caller3.out);
    }
    // Accepted with the in-app button: the notification goes too.
    const caller4 = dialApp("e2e-caller-4");
    try {
      await waitFor("#incoming", "the fourth incoming call", 20000, async (e) => (await text(e)).includes("e2e-caller-4"));
      await waitNotification("e2e-caller-4");
      const closes = closeCalls();
      await clickCss("#accept-call");
      await waitFor("#call-state[data-state=active]", "the call accepted in the app to be active", 30000);
      await waitNotificationClosed("the call was accepted in the app", closes);
      log("accepted in the app: the desktop notification was closed");
      await clickUntil("#hangup-button", "#call-state[data-state=ended]", "the fourth call to end");
      await clickCss("#back-home");
    } finally {
      caller4.kill("SIGTERM");
      if (caller4.out) writeFileSync(join(out, "caller4.log"), caller4.out);
    }
    // No notification server: the app logs one warning and rings in the window as before.
    // The harness's dunst is stopped, and D-Bus activation (which would start another one)
    // is pointed at a display that does not exist, so the app's Notify gets an error.
    const busCall = (...args) => execFileSync("dbus-send", ["--session", "--print-reply=literal",
      "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", ...args]).toString();
    const dunstPid = Number(busCall("org.freedesktop.DBus.GetConnectionUnixProcessID", "string:org.freedesktop.Notifications").match(/(\d+)\s*$/)?.[1]);
    busCall("org.freedesktop.DBus.UpdateActivationEnvironment", "dict:string:string:DISPLAY,:4242");
    process.kill(dunstPid, "SIGTERM");
    const serverGone = Date.now() + 10000;
    while (/true/.test(busCall("org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.Notifications")) && Date.now() < serverGone) await sleep(100);
    const appLogPath = join(dataDir, "logs", "wzp-desktop.log");
    const warnings = () => (readFileSync(appLogPath, "utf8").match(/no desktop notification for incoming calls/g) ?? []).length;
    for (const name of ["e2e-caller-5", "e2e-caller-6"]) {
      await waitFor("#listener-status[data-state=listening]", "the app to listen again", 20000);
      const c = dialApp(name);
      try {
        await waitFor("#incoming", `${name}'s call ringing without a notification server`, 20000, async (e) => (await text(e)).includes(name));
        const until = Date.now() + 10000;
        while (warnings() === 0 && Date.now() < until) await sleep(200);
        await sleep(500);
        await press("\uE00C"); // Escape
        await waitFor("#listener-status", `${name}'s call to be declined`, 10000, async () => (await findAll("#incoming")).length === 0);
      } finally {
        c.kill("SIGTERM");
        if (c.out) writeFileSync(join(out, `${name}.log`), c.out);
      }
    }
    if (warnings() !== 1) throw new Error(`expected one warning about the missing notification server, the log has ${warnings()}`);
    log("without a notification server: one warning in the log, the app rang and declined as before");

    // The setting turns the notification off: the app still rings, nothing is shown.
    await waitFor("#call-notifications", "the notification setting", 10000);
    // A click that lands while the home screen is redrawn is lost: click until it shows.
    const notifyBox = async () => retry(async () => wd("GET", `${sess()}/element/${await find("#call-notifications")}/property/checked`));
    for (let i = 0; i < 4 && (await notifyBox()) !== false; i++) {
      await clickCss("#call-notifications");
      await sleep(200);
    }
    if ((await notifyBox()) !== false) throw new Error("the notification setting cannot be unticked");
    await clickCss("#save-settings");
    await waitFor("#settings-title ~ p[role=status]", "the settings to be saved", 10000);
    // The "Saved" note may still be there from an earlier save (push-to-talk's), so wait
    // for the file itself rather than trusting the note.
    const notifySetting = () => JSON.parse(readFileSync(join(dataDir, "settings.json"), "utf8")).call_notifications;
    for (const until = Date.now() + 10000; notifySetting() !== false && Date.now() < until; ) await sleep(200);
    if (notifySetting() !== false) throw new Error(`settings.json: call_notifications is ${notifySetting()}`);
    await waitFor("#listener-status[data-state=listening]", "the app to listen again", 20000);
    const notifies = busMessages().filter((m) => member(m, "Notify")).length;
    const caller5 = dialApp("e2e-caller-7");
    try {
      await waitFor("#incoming", "a call with the setting off", 20000, async (e) => (await text(e)).includes("e2e-caller-7"));
      await sleep(1500);
      if (busMessages().filter((m) => member(m, "Notify")).length !== notifies)
        throw new Error("a notification was shown although the setting is off");
      await press("\uE00C"); // Escape
      await waitFor("#listener-status", "the call with the setting off to be declined", 10000, async () => (await findAll("#incoming")).length === 0);
      log("with the setting off the app rings without a desktop notification");
    } finally {
      caller5.kill("SIGTERM");
      if (caller5.out) writeFileSync(join(out, "caller7.log"), caller5.out);
    }
  }

  // Restart: identity and history survive.
  await endSession();
  await newSession();
  await waitFor("#fingerprint", "home after restart", 30000);
  const fp2 = (await textOf("#fingerprint")).split(/\s/)[0];
  if (fp2 !== myFp) throw new Error(`identity changed across restart: ${myFp} -> ${fp2}`);
  await waitFor("#recent-list li[data-target=e2e-room]", "history after restart", 5000);
  await shot("08-after-restart");
  log("restart keeps identity and history");

  // Where the identity is kept, changed in settings: into a passphrase file (the secret
  // store's copy is deleted), then back into the secret store with the file's
  // passphrase (the file is deleted). The same seed, and the same identity, throughout.
  const MOVE_PASS = "moved around twice";
  const sealedPath = join(dataDir, "identity.sealed");
  const lookup = () => {
    try {
      return execFileSync("secret-tool", ["lookup", "service", service, "username", "identity"]).toString().trim();
    } catch {
      return ""; // secret-tool exits 1 when nothing is stored
    }
  };
  const fillIn = async (css, value) => retry(async () => type(await find(css), value));
  const storageNote = async (what, pattern) => {
    const t = await textWhen("#passphrase-changed", what);
    if (!pattern.test(t)) throw new Error(`${what}: unexpected text "${t}"`);
  };
  await clickCss("#move-to-file");
  await fillIn("#changed-passphrase", MOVE_PASS);
  await fillIn("#changed-passphrase-again", MOVE_PASS);
  await clickCss("#change-passphrase-submit");
  await storageNote("moved into the file", /now in the passphrase file/);
  if (!existsSync(sealedPath)) throw new Error("no identity file after moving the identity into it");
  if (lookup() !== "") throw new Error("the secret store still holds the identity after the move into the file");
  if (!/identity\.sealed, protected by your passphrase/.test(await textOf("#identity-storage"))) {
    throw new Error("settings do not say the identity is in the file");
  }
  await shot("08b-identity-in-file");
  log("identity moved into the passphrase file; the secret store's copy is gone");
  await clickCss("#move-to-store");
  await fillIn("#current-passphrase", "not the passphrase");
  await clickCss("#change-passphrase-submit");
  const moveError = await textWhen("#change-passphrase-error", "wrong passphrase for the move");
  if (!/passphrase is not right/.test(moveError)) throw new Error(`wrong passphrase for the move: "${moveError}"`);
  if (!existsSync(sealedPath) || lookup() !== "") throw new Error("a refused move changed where the identity is");
  await fillIn("#current-passphrase", MOVE_PASS);
  await clickCss("#change-passphrase-submit");
  await storageNote("moved into the secret store", /now in the system's secret store/);
  if (existsSync(sealedPath)) throw new Error("the identity file is still there after the move into the secret store");
  if (lookup() !== secret) throw new Error("the secret store does not hold the same seed after the moves");
  if ((await textOf("#fingerprint")).split(/\s/)[0] !== myFp) throw new Error("the identity changed while moving");
  log("identity moved back into the secret store (same seed); the file is gone");

  // Single instance: starting the app again while it runs hands over and exits. It is
  // started the way a clicked wzp:// link starts it: the running app fills in the room
  // form from the link (and joins nothing by itself).
  const link = "wzp://join?room=from%20a%20link&relay=127.0.0.1:4999";
  const second = spawn(app, [link], { stdio: ["ignore", "pipe", "pipe"] });
  let secondOut = "";
  second.stdout.on("data", (d) => (secondOut += d));
  second.stderr.on("data", (d) => (secondOut += d));
  const secondExit = await Promise.race([
    new Promise((r) => second.on("exit", (code) => r(code))),
    sleep(15000).then(() => "still running"),
  ]);
  if (secondExit !== 0) {
    second.kill("SIGTERM");
    throw new Error(`a second start of the app did not hand over and exit (${secondExit}): ${secondOut.slice(0, 300)}`);
  }
  const appLog = readFileSync(join(dataDir, "logs", "wzp-desktop.log"), "utf8");
  if (!/started again: showing this window/.test(appLog)) throw new Error("the running app was not told about the second start");
  await waitFor("#fingerprint", "the first instance still working", 5000);
  log("a second start handed over to the running app and exited");
  const roomValue = async () => wd("GET", `${sess()}/element/${await find("#room-input")}/property/value`);
  const deadline = Date.now() + 10000;
  while ((await roomValue()) !== "from a link" && Date.now() < deadline) await sleep(200);
  if ((await roomValue()) !== "from a link") throw new Error(`the link did not fill in the room: ${await roomValue()}`);
  const relayValue = await wd("GET", `${sess()}/element/${await find("#relay-input")}/property/value`);
  if (relayValue !== "127.0.0.1:4999") throw new Error(`the link did not fill in the relay: ${relayValue}`);
  const notes = await Promise.all((await findAll(".banner")).map((e) => text(e)));
  if (!notes.some((t) => t.includes("from a link"))) throw new Error(`no note about the link: ${JSON.stringify(notes)}`);
  if ((await findAll("#hangup-button")).length > 0) throw new Error("a link started a call by itself");
  await shot("09-link-filled-in");
  log("a wzp:// link handed to the running app filled in the room form");
  console.log("E2E PASS");
} catch (e) {
  failed = true;
  console.error("E2E FAIL:", e.message);
  if (peerOut) writeFileSync(join(out, "peer.log"), peerOut);
} finally {
  if (peer) peer.kill("SIGTERM");
  await endSession();
  if (peerOut && !existsSync(join(out, "peer.log"))) writeFileSync(join(out, "peer.log"), peerOut);
}
process.exit(failed ? 1 : 0);
