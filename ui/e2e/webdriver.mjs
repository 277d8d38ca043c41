// A small W3C WebDriver client over fetch (Node 20) for driving the desktop app through
// tauri-driver + WebKitWebDriver. Shared by the end-to-end test (ui/e2e/e2e.mjs) and the
// release measurements (scripts/measure-app.mjs), so both speak to the driver the same way.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * One driver connection. `base`: the driver's URL; `app`: the binary to start in each
 * session; `out`: where screenshots go; `tag`: the log prefix; `waitMs`: waitFor's default.
 */
export function webDriver({ base, app, out, tag, waitMs = 20000 }) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const log = (...a) => console.log(`[${tag} ${new Date().toISOString().slice(11, 19)}]`, ...a);

  async function wd(method, path, body) {
    const r = await fetch(base + path, {
      method,
      headers: { "content-type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    const j = await r.json();
    if (!r.ok) throw new Error(`${method} ${path} -> ${r.status} ${JSON.stringify(j).slice(0, 300)}`);
    return j.value;
  }

  let sid = null;
  /** The current session's path prefix, for requests the helpers below do not cover. */
  const sess = () => `/session/${sid}`;
  const el = (v) => Object.values(v)[0];
  const find = async (css) => el(await wd("POST", `${sess()}/element`, { using: "css selector", value: css }));
  const findAll = async (css) =>
    (await wd("POST", `${sess()}/elements`, { using: "css selector", value: css })).map(el);
  const text = (e) => wd("GET", `${sess()}/element/${e}/text`);
  const attr = (e, a) => wd("GET", `${sess()}/element/${e}/attribute/${a}`);
  // WebDriver scrolls an element only just into view, where the sticky banners at the top
  // can cover it ("element click intercepted"): then scroll it to the middle and click again.
  const click = async (e) => {
    try {
      return await wd("POST", `${sess()}/element/${e}/click`, {});
    } catch (err) {
      if (!/click intercepted/.test(String(err.message))) throw err;
      const r = await wd("GET", `${sess()}/element/${e}/rect`);
      await wd("POST", `${sess()}/execute/sync`, {
        script: `window.scrollTo(0, ${Number(r.y)} - window.innerHeight / 2);`,
        args: [],
      });
      return wd("POST", `${sess()}/element/${e}/click`, {});
    }
  };
  const exec = (script, args = []) => wd("POST", `${sess()}/execute/sync`, { script, args });
  async function type(e, t) {
    await wd("POST", `${sess()}/element/${e}/clear`, {});
    await wd("POST", `${sess()}/element/${e}/value`, { text: t });
  }
  async function press(key) {
    await wd("POST", `${sess()}/actions`, {
      actions: [{ type: "key", id: "kb", actions: [{ type: "keyDown", value: key }, { type: "keyUp", value: key }] }],
    });
  }
  async function shot(name) {
    try {
      const png = await wd("GET", `${sess()}/screenshot`);
      const p = join(out, `${name}.png`);
      writeFileSync(p, Buffer.from(png, "base64"));
      log("screenshot", p);
    } catch (e) {
      log("screenshot failed", String(e).slice(0, 200));
    }
  }
  /** Waits for `css` to exist and satisfy `pred`; on timeout takes a screenshot and throws. */
  async function waitFor(css, what, timeoutMs = waitMs, pred = async () => true) {
    const end = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < end) {
      try {
        const e = await find(css);
        if (await pred(e)) return e;
      } catch (err) {
        last = String(err.message).slice(0, 120);
      }
      await sleep(200);
    }
    await shot(`fail-${what.replace(/\W+/g, "-")}`);
    throw new Error(`timed out waiting for ${what} (${css}) ${last}`);
  }
  // The text of `css` once it exists, looked up again when a redraw replaced the element
  // between finding and reading it (home redraws when its relay list has loaded).
  async function textWhen(css, what, timeoutMs = waitMs) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      await waitFor(css, what, Math.max(1, end - Date.now()));
      try {
        return await text(await find(css));
      } catch (e) {
        if (!/stale element|no such element/.test(String(e.message)) || Date.now() > end) throw e;
      }
    }
  }
  async function newSession() {
    const s = await wd("POST", "/session", {
      capabilities: { alwaysMatch: { browserName: "wry", "tauri:options": { application: app } } },
    });
    sid = s.sessionId;
    log("session", sid);
  }
  async function endSession() {
    if (sid) await wd("DELETE", sess()).catch(() => undefined);
    sid = null;
  }

  return { sleep, log, wd, sess, find, findAll, text, textWhen, attr, click, exec, type, press, shot, waitFor, newSession, endSession };
}
