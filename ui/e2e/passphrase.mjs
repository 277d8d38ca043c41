// End-to-end test of the identity on a computer with no secret store, through tauri-driver
// + WebKitWebDriver. Started by ui/e2e/passphrase.sh (Xvfb, no session bus, private HOME
// and data folder).
//
// Flow: the welcome screen says there is no secret store and offers the passphrase file ->
// a too-short and then a mismatched passphrase are refused on the page -> a good one is
// accepted and create works as usual (identity.sealed written, 98 bytes, mode 0600, no
// plain seed in it) -> restart: the unlock screen, a wrong passphrase said in words, the
// right one opens home with the same fingerprint -> settings: a wrong current passphrase
// is refused, then the passphrase is changed -> restart: only the changed one opens it ->
// restart: "I forgot" asks first, then
// the 24 words and a new passphrase replace the file -> restart: the new passphrase opens it.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { webDriver } from "./webdriver.mjs";

const base = process.env.WD_URL || "http://127.0.0.1:4444";
const app = process.env.APP;
const out = process.env.E2E_OUT || "e2e-out";
const dataDir = process.env.WZP_DATA_DIR;
const { sleep, log, find, findAll, text, textWhen, attr, click, type, shot, waitFor, newSession, endSession } = webDriver({
  base,
  app,
  out,
  tag: "e2e-passphrase",
});

const PASS = "correct horse battery";
const MID_PASS = "changed in settings";
const NEW_PASS = "a brand new passphrase";

async function fill(css, value) {
  await type(await find(css), value);
}
async function expectText(css, what, pattern) {
  const t = await textWhen(css, what);
  if (!pattern.test(t)) throw new Error(`${what}: unexpected text "${t}"`);
  log(`${what}: "${t}"`);
}
async function restart() {
  await endSession();
  await sleep(1000);
  await newSession();
}
async function fingerprint() {
  return (await textWhen("#fingerprint", "home with the fingerprint", 30000)).split(/\s/)[0];
}
async function unlock(pass) {
  await fill("#unlock-passphrase", pass);
  await click(await find("#unlock-submit"));
}

let failed = false;
try {
  await newSession();

  // No secret store: said, and the passphrase file offered.
  await expectText("#no-secret-store", "no secret store explained", /no secret store/i);
  await shot("01-no-secret-store");
  await click(await find("#use-passphrase-file"));
  await waitFor("#new-passphrase", "the passphrase form");
  await fill("#new-passphrase", "short");
  await fill("#new-passphrase-again", "short");
  await click(await find("#passphrase-submit"));
  await expectText("#passphrase-error", "too short refused", /at least 8 characters/);
  await fill("#new-passphrase", PASS);
  await fill("#new-passphrase-again", PASS + "!");
  await click(await find("#passphrase-submit"));
  await expectText("#passphrase-error", "mismatch refused", /not the same/);
  await shot("02-passphrase-mismatch");
  await fill("#new-passphrase", PASS);
  await fill("#new-passphrase-again", PASS);
  await click(await find("#passphrase-submit"));
  await expectText("#passphrase-file-chosen", "file chosen", /identity\.sealed/);
  await shot("03-file-chosen");

  // Create as usual.
  await click(await find("#create-identity"));
  await waitFor("#backup-words li", "the 24 words");
  const words = [];
  for (const li of await findAll("#backup-words li")) words.push(await text(li));
  if (words.length !== 24) throw new Error(`expected 24 words, got ${words.length}`);
  await click(await find("#backup-written"));
  await waitFor("[data-pos]", "the confirm form");
  for (const input of await findAll("input[data-pos]")) {
    await type(input, words[Number(await attr(input, "data-pos")) - 1]);
  }
  await click(await find("#confirm-submit"));
  const fp = await fingerprint();
  log("identity", fp);
  const file = join(dataDir, "identity.sealed");
  const st = statSync(file);
  const bytes = readFileSync(file);
  if (bytes.length !== 98) throw new Error(`identity.sealed has ${bytes.length} bytes, not 98`);
  if ((st.mode & 0o777) !== 0o600) throw new Error(`identity.sealed mode ${(st.mode & 0o777).toString(8)}, not 600`);
  if (bytes.subarray(0, 8).toString() !== "WZPSEAL\n") throw new Error("identity.sealed does not start with the magic");
  log("identity.sealed: 98 bytes, mode 600, magic ok");
  await shot("04-home");

  // Restart: locked; a wrong passphrase is said in words; the right one opens.
  await restart();
  await waitFor("#unlock-passphrase", "the unlock screen", 30000);
  await shot("05-unlock");
  await unlock("not the passphrase");
  await expectText("#unlock-error", "wrong passphrase said", /passphrase is not right/);
  await shot("06-wrong-passphrase");
  await unlock(PASS);
  const fp2 = await fingerprint();
  if (fp2 !== fp) throw new Error(`unlocked ${fp2}, created ${fp}`);
  log("unlocked the same identity");
  await expectText("#identity-storage", "settings say where the identity is", /identity\.sealed, protected by your passphrase/);

  // Change the passphrase in settings: the current one is checked first (the file is
  // open, but whoever sits at an unlocked computer must not take the file over).
  await click(await find("#change-passphrase"));
  await fill("#current-passphrase", "not the passphrase");
  await fill("#changed-passphrase", MID_PASS);
  await fill("#changed-passphrase-again", MID_PASS);
  await click(await find("#change-passphrase-submit"));
  await expectText("#change-passphrase-error", "wrong current passphrase said", /passphrase is not right/);
  await fill("#current-passphrase", PASS);
  await click(await find("#change-passphrase-submit"));
  await expectText("#passphrase-changed", "passphrase changed", /Passphrase changed/);
  await shot("06b-passphrase-changed");
  await restart();
  await waitFor("#unlock-passphrase", "the unlock screen", 30000);
  await unlock(PASS);
  await expectText("#unlock-error", "the old passphrase no longer opens it after the change", /passphrase is not right/);
  await unlock(MID_PASS);
  const fpMid = await fingerprint();
  if (fpMid !== fp) throw new Error(`unlocked ${fpMid} with the changed passphrase, created ${fp}`);
  log("the changed passphrase opens the same identity");

  // Restart: forgot the passphrase -> asked first -> 24 words and a new passphrase.
  await restart();
  await click(await waitFor("#forgot-passphrase", "the unlock screen", 30000));
  await expectText("#forgot-body", "replacement explained", /replacing the locked one/);
  await shot("07-forgot");
  await click(await find("#forgot-continue"));
  await fill("#restore-words", words.join(" "));
  await fill("#restore-passphrase", NEW_PASS);
  await fill("#restore-passphrase-again", NEW_PASS);
  await shot("08-forgot-restore");
  await click(await find("#restore-submit"));
  const fp3 = await fingerprint();
  if (fp3 !== fp) throw new Error(`restored ${fp3}, created ${fp}`);

  await restart();
  await waitFor("#unlock-passphrase", "the unlock screen", 30000);
  await unlock(MID_PASS);
  await expectText("#unlock-error", "the old passphrase no longer opens it", /passphrase is not right/);
  await unlock(NEW_PASS);
  const fp4 = await fingerprint();
  if (fp4 !== fp) throw new Error(`unlocked ${fp4} with the new passphrase, created ${fp}`);
  await shot("09-home-after-forgot");
  log("E2E PASSPHRASE PASS");
} catch (e) {
  failed = true;
  log("FAIL", e.message);
  await shot("fail");
} finally {
  await endSession();
}
process.exit(failed ? 1 : 0);
