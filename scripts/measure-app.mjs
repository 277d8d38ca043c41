// In-call part of scripts/measure-app.sh (run by it; not on its own). Drives the app
// through tauri-driver (ui/e2e/webdriver.mjs, shared with the end-to-end test): home
// (the identity is already in the secret store) -> "Host on this computer" -> a headless
// `wzp call` peer sending a 720p30 test pattern joins a room on that relay -> the app
// joins it (it sends its own WZP_APP_VIDEO_IN pattern) -> once the peer's video tile
// shows, writes $OUT/in-call and waits for $OUT/measured (the shell samples memory
// meanwhile) -> hangs up.
// Env: WD_URL, APP, WZP_CLI, MEASURE_OUT, PEER_VIDEO (default pattern:1280x720@30).
import { spawn } from "node:child_process";
import { writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { webDriver } from "../ui/e2e/webdriver.mjs";

const base = process.env.WD_URL;
const out = process.env.MEASURE_OUT;
const peerVideo = process.env.PEER_VIDEO || "pattern:1280x720@30";
const { sleep, log, wd, sess, find, text, click, type, shot, waitFor, newSession, endSession } = webDriver({
  base,
  app: process.env.APP,
  out,
  tag: "measure",
  waitMs: 30000,
});

let peer = null;
let peerOut = "";
let failed = false;
process.on("SIGTERM", () => {
  if (peer) peer.kill("SIGTERM");
  process.exit(1);
});
try {
  await newSession();
  await waitFor("#fingerprint", "home (identity from the secret store)");
  await click(await find("#host-start"));
  const relayFp = (await text(await waitFor("#host-fingerprint", "the embedded relay"))).trim();
  await click(await find("#host-use"));
  const relay = await wd("GET", `${sess()}/element/${await find("#relay-input")}/property/value`);
  log("hosting at", relay);
  peer = spawn(process.env.WZP_CLI, [
    "call", "--relay", relay, "--relay-fingerprint", relayFp, "--room", "measure", "--ephemeral",
    "--name", "measure-peer", "--audio-in", "tone", "--video-in", peerVideo, "--json", "--stats-every", "5",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  peer.stdout.on("data", (d) => (peerOut += d));
  peer.stderr.on("data", (d) => (peerOut += d));
  await sleep(1500);
  const room = await find("#room-input");
  await type(room, "measure");
  await click(await find("#join-button"));
  await waitFor("#call-state[data-state=active]", "the call to be active");
  await waitFor("#participants li[data-fp]", "the peer in the call", 30000, async (e) => (await text(e)).includes("measure-peer"));
  await waitFor(".video-tile", "the peer's video tile");
  log("in the call, peer video", peerVideo);
  writeFileSync(join(out, "in-call"), new Date().toISOString());
  const end = Date.now() + 120000;
  while (!existsSync(join(out, "measured")) && Date.now() < end) await sleep(250);
  await shot("in-call");
  // The call view redraws ten times a second: a lookup can meet a replaced element
  // ("stale element reference", which failed runs after the sample was taken), so retry.
  for (let i = 0; i < 5; i++) {
    try {
      await click(await find("#hangup-button"));
      break;
    } catch (e) {
      log("hang up:", String(e.message).slice(0, 200));
      await sleep(200);
    }
  }
  await sleep(1000);
} catch (e) {
  failed = true;
  console.error("MEASURE FAIL:", e.message);
} finally {
  if (peer) peer.kill("SIGTERM");
  await sleep(500);
  writeFileSync(join(out, "peer.log"), peerOut);
  await endSession();
}
process.exit(failed ? 1 : 0);
