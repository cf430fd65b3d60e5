// Shared constants from the gateway (GET /api/spec, from bus/constants.py), so the page keeps no
// copy of them. The survey's own rules come with its state (`active`, `actions` from the sequencer).

import { get } from "./api.js";

export const spec = { log_levels: [] };

export async function loadSpec() {
  Object.assign(spec, await get("/api/spec"));
}

// A level's rank in rising severity (an unknown level counts as info).
export function levelRank(level) {
  const i = spec.log_levels.indexOf(level);
  return i >= 0 ? i : spec.log_levels.indexOf("info");
}
