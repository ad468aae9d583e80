"""Rules that protect the called person, as pure values and functions (no I/O, no SQL).

- `hours`: allowed calling hours per weekday and on holidays, evaluated in a time zone
  (daylight saving handled by `zoneinfo`); when a window next opens, in one zone or in all of
  several candidate zones at once.
- `zones`: the zone(s) a lead is called in: the lead's own, else the number's region from the
  `phonenumbers` time-zone data, else the campaign's default.
- `caps`: attempt caps per local day, rolling 24 hours, local week and local month.
- `retry`: what happens to a lead after each call result, per campaign.
- `policy`: a campaign's whole rule set (`CampaignRules`) and the presets (US, UK, RU debt
  collection); validation, and the JSON form the store keeps.
- `dnc`: do-not-call entries and matching.
- `abandonment`: the US and UK abandonment rates (the UK one with the estimate of people that
  answering-machine detection took for machines), windows exact to the minute, the worst 24 h.
- `verdict`: `evaluate(facts, rules, now)`: is a lead dialable now, and if not, every reason and
  when each one ends. The lease path, the pre-originate check and `dialer leads why` all use it.
- `ports`: what the engine asks of the rules at run time (`DialGuard`).
"""
