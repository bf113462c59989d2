// What the console's add-on modules (bots, cases, guidance, knowledge,
// scheduling) read of the console: its state, exposed on
// window.__switchboard once signed in, and the token it signed in with.

export function consoleState() {
  return window.__switchboard?.state || null;
}

export function consoleToken() {
  return consoleState()?.auth?.token || null;
}
