// The health panel's notes: what keeps the instrument from measuring or storing, said in words —
// the free-space floor (state.recorder), a survey held by the system (state.sequencer), why the
// controller refuses to measure (its SOH), a damaged database set aside at start.

import { bytes, h } from "./api.js";

// The disk tile: [value, level, title]; "bad" below the recorder's floor ([recorder] min_free_mb).
export function diskTile(r, dead) {
  const free = r.free_disk_bytes;
  if (!Number.isFinite(free)) return [dead ? "no data" : "–", dead ? "bad" : "", ""];
  const floor = Number.isFinite(r.min_free_bytes) ? r.min_free_bytes : 0;
  const level = r.disk_low || free < floor ? "bad" : free < Math.max(2 * floor, 1e9) ? "warn" : "ok";
  const title = `floor ${bytes(floor)} ([recorder] min_free_mb)${r.db_id ? ` · database ${r.db_id}` : ""}`;
  return [bytes(free), level, title];
}

// [{key, level: "bad" | "warn", text}] from the recorder's state, the survey and the controller's SOH.
export function healthNotes(recorder, survey, controller) {
  const r = recorder || {};
  const notes = [];
  if (r.disk_low) {
    const lost = r.soh_not_stored ? ` ${r.soh_not_stored} health samples not stored so far.` : "";
    notes.push({ key: "disk", level: "bad",
      text: `Disk below the free-space floor: ${bytes(r.free_disk_bytes)} free, floor ${bytes(r.min_free_bytes)} ` +
        `([recorder] min_free_mb). Surveys hold and nothing new is measured until space returns.${lost}` });
  }
  if (survey && survey.hold) {
    notes.push({ key: "hold", level: "bad",
      text: `Survey ${survey.name || survey.survey_id || ""} held (${survey.hold}): ${survey.message || "resumes by itself"}` });
  }
  const c = controller || {};
  if (c.unavailable) {
    notes.push({ key: "controller", level: "bad", text: `Controller (${c.unavailable}): ${c.unavailable_message || "not measuring"}` });
  }
  for (const aside of Array.isArray(r.db_set_aside) ? r.db_set_aside : []) {
    notes.push({ key: "db", level: "warn",
      text: `Damaged database set aside (kept, not deleted): ${aside.path}${aside.reason ? ` — ${aside.reason}` : ""}. ` +
        `A new database was started${r.db_id ? ` (${r.db_id})` : ""}; the outboxes refill it with what they still hold.` });
  }
  return notes;
}

export function renderHealthNotes(list, notes) {
  list.hidden = !notes.length;
  list.replaceChildren(...notes.map((n) => h("li", { class: `msg msg-${n.level === "bad" ? "bad" : "warn"}`, "data-note": n.key, text: n.text })));
}
