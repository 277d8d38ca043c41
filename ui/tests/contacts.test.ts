import { describe, expect, it } from "vitest";
import { checkNewContact, defaultContactName, findContact, fpKey, type Contact } from "../src/contacts";
import { s } from "../src/strings";

const fp = "0123:4567:89ab:cdef:0123:4567:89ab:cdef";
const list: Contact[] = [
  { name: "Ana", fingerprint: fp, verified: true, added_unix: 1 },
  { name: "Bo", fingerprint: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", verified: false, added_unix: 2 },
];

describe("contacts", () => {
  it("finds a contact whatever form the fingerprint is written in", () => {
    expect(fpKey(fp)).toBe("0123456789abcdef0123456789abcdef");
    expect(findContact(list, "0123456789ABCDEF0123456789abcdef")?.name).toBe("Ana");
    expect(findContact(list, fp)?.verified).toBe(true);
    expect(findContact(list, "1111:1111:1111:1111:1111:1111:1111:1111")).toBeNull();
    expect(findContact(list, "")).toBeNull();
    expect(findContact(undefined, fp)).toBeNull();
  });

  it("says what to fix in a new contact", () => {
    expect(checkNewContact("Ana", fp)).toBeNull();
    expect(checkNewContact("Ana", "0123456789abcdef0123456789abcdef")).toBeNull();
    expect(checkNewContact("  ", fp)).toBe(s.contactNeedsName);
    expect(checkNewContact("x".repeat(65), fp)).toBe(s.contactNameTooLong);
    expect(checkNewContact("é".repeat(64), fp)).toBeNull();
    expect(checkNewContact("Ana", "0123:4567")).toBe(s.contactBadFingerprint);
    expect(checkNewContact("Ana", "zz23456789abcdef0123456789abcdef")).toBe(s.contactBadFingerprint);
  });

  it("names someone from a call by alias, else by fingerprint", () => {
    expect(defaultContactName(fp, " Ana ")).toBe("Ana");
    expect(defaultContactName(fp, null)).toBe("0123:4567");
    expect(defaultContactName(fp, "y".repeat(80))).toHaveLength(64);
  });
});
