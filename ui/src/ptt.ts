// Push-to-talk: with a key chosen in the settings, the microphone is open only while
// that key is held in the app's window. The mute button still mutes on top of it
// (held key or not). Releasing the key closes the microphone a moment later, so the
// end of the last word is not cut off. Unit-tested in tests/ptt.test.ts.
//
// The key is kept as KeyboardEvent.code ("Space", "KeyT", "Backquote": the physical
// key, whatever the keyboard layout), or as KeyboardEvent.key where a platform gives
// no code.

/** How long the microphone stays open after the key is released, in milliseconds. */
export const RELEASE_DELAY_MS = 250;

/** Keys that cannot be the push-to-talk key: they already do something (leaving a
 * field, closing a dialog, the call's own shortcuts) or are only modifiers. */
const RESERVED = new Set([
  "Escape", "Tab", "Enter", "NumpadEnter", "Backspace",
  "KeyM", "KeyV", "m", "v", "M", "V",
  "ShiftLeft", "ShiftRight", "ControlLeft", "ControlRight", "AltLeft", "AltRight", "MetaLeft", "MetaRight",
  "Shift", "Control", "Alt", "Meta",
]);

/** The push-to-talk key for a key press, or null when that key cannot be one. */
export function pttKeyOf(e: { code: string; key: string }): string | null {
  const k = e.code || e.key;
  if (!k || RESERVED.has(k) || RESERVED.has(e.key)) return null;
  return k;
}

/** Whether a key event is the push-to-talk key. */
export function isPttKey(ptt: string | null, e: { code: string; key: string }): boolean {
  return ptt !== null && ptt !== "" && (e.code === ptt || (!e.code && e.key === ptt));
}

/** The key's name as people read it ("Space", "T", "`", "F8"). */
export function pttKeyName(code: string): string {
  const named: Record<string, string> = {
    Space: "Space", Backquote: "`", CapsLock: "Caps Lock", Minus: "-", Equal: "=",
    BracketLeft: "[", BracketRight: "]", Backslash: "\\", Semicolon: ";", Quote: "'",
    Comma: ",", Period: ".", Slash: "/", " ": "Space",
  };
  if (named[code]) return named[code];
  const m = /^(?:Key|Digit)(.)$/.exec(code);
  if (m) return m[1];
  const n = /^Numpad(.+)$/.exec(code);
  if (n) return `Keypad ${n[1]}`;
  return code;
}

/** Whether the microphone should be muted: muted by the user, or push-to-talk is on
 * and its key is not held. */
export function micMuted(userMuted: boolean, ptt: string | null, held: boolean): boolean {
  return userMuted || (!!ptt && !held);
}
