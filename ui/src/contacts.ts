// Contacts as the shell keeps them (contacts.json; src-tauri/src/store.rs) and pure
// helpers (unit-tested in tests/contacts.test.ts).
import { isFingerprint, shortFingerprint } from "./format";
import { s } from "./strings";

export interface Contact {
  name: string;
  /** Display form: 8 groups of 4 hex digits joined by ':'. */
  fingerprint: string;
  /** The user compared the safety number with this person. */
  verified: boolean;
  added_unix: number;
}

/** A fingerprint reduced to its 32 hex digits, for comparing forms ("ab:cd…" vs "abcd…"). */
export function fpKey(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
}

/** The contact with this fingerprint, in any written form. */
export function findContact(list: Contact[] | undefined, fp: string): Contact | null {
  if (!fp) return null;
  const k = fpKey(fp);
  return list?.find((c) => fpKey(c.fingerprint) === k) ?? null;
}

/** Why a new contact cannot be saved as typed (a sentence saying what to fix), or null. */
export function checkNewContact(name: string, fingerprint: string): string | null {
  if (!name.trim()) return s.contactNeedsName;
  if ([...name.trim()].length > 64) return s.contactNameTooLong;
  if (!isFingerprint(fingerprint)) return s.contactBadFingerprint;
  return null;
}

/** The name to save for someone seen in a call: their alias, else a short fingerprint. */
export function defaultContactName(fp: string, alias: string | null): string {
  return alias?.trim().slice(0, 64) || shortFingerprint(fp);
}
