import { describe, expect, it } from "vitest";
import {
  checkNewPassphrase,
  needsPassphraseFile,
  shownByScreen,
  startScreen,
  storageText,
  type StorageInfo,
} from "../src/passphrase";

const store = (over: Partial<StorageInfo> = {}): StorageInfo => ({
  kind: "secret_store",
  locked: false,
  path: null,
  min_passphrase_chars: 8,
  ...over,
});

describe("new passphrase", () => {
  it("needs the minimum length, in characters", () => {
    expect(checkNewPassphrase("1234567", "1234567", 8)).toBe("too_short");
    expect(checkNewPassphrase("12345678", "12345678", 8)).toBeNull();
    // Eight characters outside the BMP are 16 UTF-16 units but still eight characters.
    expect(checkNewPassphrase("😀".repeat(7), "😀".repeat(7), 8)).toBe("too_short");
    expect(checkNewPassphrase("😀".repeat(8), "😀".repeat(8), 8)).toBeNull();
  });
  it("must be typed the same twice, spaces included", () => {
    expect(checkNewPassphrase("long enough", "long enougH", 8)).toBe("mismatch");
    expect(checkNewPassphrase("long enough ", "long enough", 8)).toBe("mismatch");
    expect(checkNewPassphrase("", "", 8)).toBe("too_short");
  });
  it("reports too short before a mismatch", () => {
    expect(checkNewPassphrase("short", "other", 8)).toBe("too_short");
  });
});

describe("first screen", () => {
  it("goes home with an identity, to unlock when the file is locked, else welcome", () => {
    expect(startScreen({ identity: { fingerprint: "ab" }, storage: store() })).toBe("home");
    expect(startScreen({ identity: null, storage: store({ kind: "passphrase_file", locked: true }) })).toBe("unlock");
    expect(startScreen({ identity: null, storage: store({ kind: "passphrase_file" }) })).toBe("welcome");
    expect(startScreen({ identity: null, storage: store() })).toBe("welcome");
  });
  it("offers the passphrase file only when there is no secret store and no file chosen", () => {
    const none = { kind: "no_secret_store", message: "no bus" };
    expect(needsPassphraseFile({ identity_error: none, storage: store() })).toBe(true);
    expect(needsPassphraseFile({ identity_error: none, storage: store({ kind: "passphrase_file" }) })).toBe(false);
    expect(needsPassphraseFile({ identity_error: null, storage: store() })).toBe(false);
    expect(needsPassphraseFile({ identity_error: { kind: "secret_store", message: "x" }, storage: store() })).toBe(false);
  });
  it("leaves the errors a screen explains out of the banners", () => {
    expect(shownByScreen("no_secret_store")).toBe(true);
    expect(shownByScreen("identity_locked")).toBe(true);
    expect(shownByScreen("sealed_file")).toBe(false);
  });
});

describe("where the identity is kept", () => {
  it("names the file, or the secret store", () => {
    expect(storageText(store({ kind: "passphrase_file", path: "/d/identity.sealed" }))).toContain("/d/identity.sealed");
    expect(storageText(store())).toContain("secret store");
    expect(storageText(null)).toContain("secret store");
  });
});
