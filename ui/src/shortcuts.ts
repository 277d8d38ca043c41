// Keyboard shortcuts in a call: M mutes, V toggles video, Ctrl+E (Cmd+E on macOS) hangs
// up. Letters are ignored while the user types in a field.

export type Action = "mute" | "camera" | "hangup";

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  /** Tag name of the focused element (INPUT, TEXTAREA, ...), if any. */
  targetTag?: string;
  /** Whether the focused element is contenteditable. */
  editable?: boolean;
}

export function shortcutFor(k: KeyLike): Action | null {
  const key = k.key.toLowerCase();
  if ((k.ctrlKey || k.metaKey) && !k.altKey && key === "e") return "hangup";
  if (k.ctrlKey || k.metaKey || k.altKey) return null;
  const typing = k.editable || k.targetTag === "INPUT" || k.targetTag === "TEXTAREA" || k.targetTag === "SELECT";
  if (typing) return null;
  if (key === "m") return "mute";
  if (key === "v") return "camera";
  return null;
}
