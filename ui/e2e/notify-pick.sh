#!/bin/sh
# dunst's "dmenu" in the app e2e test (scripts/harness.sh, harness_start_dunst): dunst
# writes one line per action of the notifications it shows, "#Label (summary) [id,key]",
# and invokes the action of the line printed back. Prints the line whose key is in the
# file $E2E_NOTIFY_PICK (e.g. "accept"); keeps a copy of the menu in $E2E_NOTIFY_MENU.
menu=$(cat)
[ -n "${E2E_NOTIFY_MENU:-}" ] && printf '%s\n' "$menu" >>"$E2E_NOTIFY_MENU"
key=$(cat "${E2E_NOTIFY_PICK:-/dev/null}" 2>/dev/null)
[ -n "$key" ] || exit 1
printf '%s\n' "$menu" | grep -m1 -e ",$key]\$"
