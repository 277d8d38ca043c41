// Every user-facing string of the UI, in one place, ready for translation.
// Functions take values so word order can change per language.

export const s = {
  appName: "WZP",
  loading: "Starting…",

  // First run
  welcomeTitle: "Welcome to WZP",
  welcomeBody:
    "Calls are end-to-end encrypted: the relay forwards media it cannot read. Your identity is a key kept in this computer's secret store; 24 words let you restore it.",
  createIdentity: "Create a new identity",
  restoreIdentity: "Restore from 24 words",
  backupTitle: "Write down these 24 words",
  backupBody:
    "They are the only way to restore your identity on another computer or after a reinstall. Keep them private: anyone with them can be you.",
  backupWritten: "I have written them down",
  confirmTitle: "Check your backup",
  confirmBody: (positions: number[]) =>
    `Type words number ${positions.join(", ")} from your list.`,
  confirmWordLabel: (n: number) => `Word ${n}`,
  confirmButton: "Confirm and save",
  confirmMismatch: "Those words do not match. Look at your list again.",
  back: "Back",
  restoreTitle: "Restore your identity",
  restoreLabel: "Your 24 words, separated by spaces",
  restoreButton: "Restore",
  restoreWrongCount: (n: number) => `That is ${n} words; an identity has 24.`,

  // Home
  yourFingerprint: "Your fingerprint",
  copy: "Copy",
  copied: "Copied",
  joinTitle: "Join or create a room",
  relayLabel: "Relay address (host:port)",
  relayFingerprintLabel: "Relay fingerprint (optional; pins the relay)",
  roomLabel: "Room name",
  joinButton: "Join room",
  callTitle: "Call someone",
  peerFingerprintLabel: "Their fingerprint",
  callButton: "Call",
  hostTitle: "Host on this computer",
  hostBody:
    "Runs a relay inside this app so people on your network can call you with no server.",
  hostStart: "Start hosting",
  hostStop: "Stop hosting",
  hostRunning: "Hosting. Share this address and fingerprint:",
  hostLocal: "This computer",
  hostShare: "Others on your network",
  hostUseIt: "Use it in the form above",
  nameLabel: "Your name (shown to others)",
  saveName: "Save",
  recentTitle: "Recent calls",
  recentEmpty: "No calls yet.",
  clearHistory: "Clear history",
  recentRoom: (room: string) => `Room “${room}”`,
  recentDirect: (fp: string) => `Call with ${fp}`,
  rejoin: "Join again",
  people: (n: number) => (n === 1 ? "1 other person" : `${n} other people`),

  // In call
  inCallTitle: (target: string) => `Call: ${target}`,
  participantsTitle: "Participants",
  videoTitle: "Video",
  videoOf: (name: string) => `Video of ${name}`,
  you: "You",
  nobodyYet: "Waiting for others to join…",
  mute: "Mute",
  unmute: "Unmute",
  cameraOn: "Start video",
  cameraOff: "Stop video",
  hangUp: "Hang up",
  statsTitle: "Statistics",
  showStats: "Show statistics",
  hideStats: "Hide statistics",
  verifyTitle: "Verification",
  verifyBody:
    "Compare these codes with each person (out loud or in person). If they match, nobody is in the middle.",
  shortCode: "Call code",
  safetyNumber: "Safety number",
  speaking: "speaking",
  muted: "muted",
  shortcutsHint: "Shortcuts: M mute, V video, Ctrl+E hang up",
  quality: { good: "Good connection", fair: "Fair connection", poor: "Poor connection" } as Record<string, string>,
  state: {
    idle: "Starting",
    connecting: "Connecting…",
    ringing: "Ringing…",
    active: "Connected",
    reconnecting: "Connection lost, reconnecting…",
    ended: "Call ended",
  } as Record<string, string>,
  stat: {
    rtt: "Round trip",
    loss: "Loss",
    jitter: "Jitter buffer",
    bitrateIn: "Receiving",
    bitrateOut: "Sending",
    codec: "Audio codec",
    resolution: "Video",
    fps: "Frame rate",
    duration: "Duration",
    relay: "Relay",
    reconnects: "Reconnects",
  },

  // Why a call ended
  ended: {
    local_hangup: "You hung up.",
    remote_hangup: "The other person hung up.",
    declined: "They declined the call.",
    busy: "They are in another call. Try again later.",
    missed: "Nobody answered.",
    unreachable: "They are not online at this relay. Check the fingerprint and the relay.",
    peer_lost: "The other person lost their connection.",
    connect_failed: "Could not reach the relay. Check the address, your network, and that the relay is running.",
    connection_lost: "The connection was lost and could not be restored. Check your network and try again.",
    refused: "The relay refused the call.",
    relay_key_changed:
      "The relay's key has changed since you last used it. This can mean someone is intercepting the connection. Ask the relay's operator before trusting it again.",
    relay_shutdown: "The relay shut down.",
    failed: "The call failed.",
  } as Record<string, string>,

  // Errors from commands, by kind: what happened and what to do next.
  errors: {
    no_secret_store:
      "This computer has no secret store available to keep your identity safely (on Linux: GNOME Keyring or KWallet must be running and unlocked). Start one and reopen the app.",
    secret_store: "The secret store reported an error. Unlock it and try again.",
    no_identity: "Create or restore an identity first.",
    invalid_input: "Please check what you typed.",
    storage: "A file in the app's data folder could not be written. Check free disk space and permissions.",
    already_in_call: "You are already in a call. Hang up first.",
    not_in_call: "There is no call in progress.",
    relay_unreachable: "Could not reach the relay. Check the address and your network.",
    call: "The call could not start.",
    relay_host: "Hosting on this computer failed. Another program may be using the network port.",
    internal: "Something went wrong inside the app. Restart it; if it happens again, report it.",
    unknown: "Something went wrong.",
  } as Record<string, string>,
  details: "Details",
  dismiss: "Dismiss",
  corruptNotice: (path: string, movedTo: string) =>
    `${path} could not be read and was moved to ${movedTo}. Defaults are used instead; nothing was deleted.`,
  warning: "Warning",
};

export type Strings = typeof s;
