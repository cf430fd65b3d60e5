// The battery tile beside the supply voltage: surveys left and state of charge from the controller's
// SOH (ohmpi/battery.py), what the estimate rests on in the tooltip.

// [value, level, title] for the tile; "warn" with fewer than 3 surveys left, "bad" with none.
export function batteryTile(c) {
  const soc = c.battery_soc_pct, left = c.surveys_left;
  if (!Number.isFinite(soc)) return ["–", "", c.surveys_left_basis || ""];
  const surveys = Number.isInteger(left) ? `${left} survey${left === 1 ? "" : "s"} · ` : "";
  const level = Number.isInteger(left) ? (left < 1 ? "bad" : left < 3 ? "warn" : "ok") : soc < 20 ? "warn" : "ok";
  const wh = Number.isFinite(c.battery_wh_left) ? `${c.battery_wh_left.toFixed(1)} Wh above the reserve` : "";
  const per = Number.isFinite(c.survey_wh) ? `, ${c.survey_wh.toFixed(2)} Wh per survey` : "";
  const title = `${soc.toFixed(0)} % charged at ${Number.isFinite(c.battery_V) ? c.battery_V.toFixed(2) : "?"} V (resting); ` +
    `${wh}${per}. Based on: ${c.surveys_left_basis || "–"}`;
  return [`${surveys}${soc.toFixed(0)} %`, level, title];
}
