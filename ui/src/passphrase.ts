// The passphrase-sealed identity file (no OS secret store on this computer): which first
// screen to show, and the checks a new passphrase gets before it is sent (the shell checks
// the length again). Unit-tested in tests/passphrase.test.ts.
import type { AppStatus } from "./api";
import { s } from "./strings";

/** Where the identity is kept, as `app_status.storage` says. */
export interface StorageInfo {
  kind: "secret_store" | "passphrase_file";
  locked: boolean;
  path: string | null;
  min_passphrase_chars: number;
}

/** What is wrong with a new passphrase and its confirmation, or null when it can be sent. */
export type PassphraseProblem = "too_short" | "mismatch" | null;

/**
 * Checks a new passphrase typed twice. Length counts characters (code points, as the
 * shell does), not UTF-16 units. Nothing is trimmed: spaces are part of a passphrase.
 */
export function checkNewPassphrase(passphrase: string, confirmation: string, minChars: number): PassphraseProblem {
  if ([...passphrase].length < minChars) return "too_short";
  if (passphrase !== confirmation) return "mismatch";
  return null;
}

/** The screen to start on: home with an identity, unlock when the file waits for its passphrase, else welcome. */
export function startScreen(st: Pick<AppStatus, "identity" | "storage">): "home" | "unlock" | "welcome" {
  if (st.identity) return "home";
  if (st.storage.locked) return "unlock";
  return "welcome";
}

/** Whether the welcome screen must offer the passphrase file (no secret store, none chosen yet). */
export function needsPassphraseFile(st: Pick<AppStatus, "identity_error" | "storage">): boolean {
  return st.identity_error?.kind === "no_secret_store" && st.storage.kind === "secret_store";
}

/** Where the identity is kept, in words (the settings card). */
export function storageText(st: StorageInfo | null): string {
  if (st?.kind === "passphrase_file" && st.path) return s.storedInFile(st.path);
  return s.storedInSecretStore;
}

/** Whether an identity error is already shown by a screen of its own (no banner for it). */
export function shownByScreen(kind: string): boolean {
  return kind === "no_secret_store" || kind === "identity_locked";
}
