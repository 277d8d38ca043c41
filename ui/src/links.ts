/**
 * wzp:// links, as the shell parsed them (src-tauri/src/links.rs). A link only fills in
 * a form: the user still presses the button, so a link cannot start a call by itself.
 */
import { s } from "./strings";

export type Link =
  | { kind: "join"; room: string; relay: string | null; relay_fingerprint: string | null }
  | { kind: "call"; fingerprint: string; relay: string | null; relay_fingerprint: string | null }
  | { kind: "contact"; fingerprint: string; name: string | null };

/** What the shell sends: a usable link, or why one was refused. */
export type Opened = { link: Link } | { refused: { kind: string; message: string } };

/** How a link fills the home screen: input values by element id, the button to focus, and what to tell the user. */
export interface LinkForm {
  fields: Record<string, string>;
  focus: string;
  note: string;
}

export function linkForm(l: Link): LinkForm {
  const relay = (r: string | null, fp: string | null): Record<string, string> =>
    r ? { "relay-input": r, "relay-fp-input": fp ?? "" } : {};
  switch (l.kind) {
    case "join":
      return {
        fields: { ...relay(l.relay, l.relay_fingerprint), "room-input": l.room },
        focus: "join-button",
        note: s.linkJoin(l.room),
      };
    case "call":
      return {
        fields: { ...relay(l.relay, l.relay_fingerprint), "peer-input": l.fingerprint },
        focus: "call-button",
        note: s.linkCall,
      };
    case "contact":
      return {
        fields: { "contact-fp": l.fingerprint, "contact-name": l.name ?? "" },
        focus: "add-contact",
        note: s.linkContact,
      };
  }
}
