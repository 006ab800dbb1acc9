"""Words for the codes in the endpoint tables. The canonical JSON keeps language-neutral codes
(the same bytes whatever the reader's language); pages translate them here. CTCAE terms and
SOCs stay in English (CLINICAL_SPEC §3: no licensed Chinese CTCAE is shipped)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

TABLE_TITLES = {
    "disposition": _("Subject disposition"),
    "exposure": _("Exposure"),
    "teae_summary": _("Treatment-emergent adverse events, day 0–90: summary"),
    "teae_by_term": _("Treatment-emergent adverse events, day 0–90, by SOC and CTCAE term and maximum grade"),
    "lymphodepletion_aes": _("Adverse events during lymphodepletion (listed apart)"),
}

WORDS = {
    # columns
    "category": _("Category"),
    "detail": _("Detail"),
    "n": "n",
    "N": "N",
    "population": _("Population"),
    "percent": "%",
    "ci_lower": _("95% CI lower"),
    "ci_upper": _("95% CI upper"),
    "median": _("Median"),
    "min": _("Minimum"),
    "max": _("Maximum"),
    "unit": _("Unit"),
    "events": _("Events"),
    "soc": _("System organ class"),
    "term": _("CTCAE term"),
    "grade_1": _("Grade 1"),
    "grade_2": _("Grade 2"),
    "grade_3": _("Grade 3"),
    "grade_4": _("Grade 4"),
    "grade_5": _("Grade 5"),
    "grade_3_or_higher": _("Grade ≥ 3"),
    "subject": _("Subject"),
    "verbatim": _("Verbatim term"),
    "grade": _("Grade"),
    "onset_date": _("Onset date"),
    "study_day": _("Study day"),
    "serious": _("Serious"),
    "relationship_lymphodepletion": _("Relationship to lymphodepletion"),
    # populations
    "screened": _("Screened"),
    "enrolled": _("Enrolled"),
    "infused": _("Infused"),
    "infused, grade >= 3": _("Infused, grade ≥ 3"),
    # categories and details
    "screen_failure": _("Screen failure"),
    "not_infused": _("Enrolled but not infused"),
    "completed": _("Completed"),
    "withdrawn": _("Withdrawn"),
    "died": _("Died"),
    "lost_to_follow_up": _("Lost to follow-up"),
    "ongoing": _("In follow-up"),
    "manufacturing_failure": _("Manufacturing failure"),
    "out_of_specification": _("Product out of specification"),
    "progression": _("Disease progression"),
    "death": _("Death"),
    "infection": _("Infection"),
    "withdrawal": _("Withdrawal"),
    "not_given": _("Reason not given"),
    "dose_level": _("Dose level"),
    "product_state": _("Fresh or thawed"),
    "fresh": _("Fresh"),
    "thawed": _("Thawed (cryopreserved)"),
    "fresh_and_thawed": _("Fresh and thawed"),
    "dose_per_kg": _("CAR+ cells/kg (×10⁶)"),
    "all": _("All"),
    "dose_within_range": _("Dose within the acceptable range"),
    "vein_to_vein": _("Vein-to-vein time"),
    "apheresis_to_infusion": _("Apheresis to infusion"),
    "days": _("days"),
    "CAR+ cells/kg ×10^6": _("×10⁶ CAR+ cells/kg"),
    "any_teae": _("Any TEAE"),
    "death_within_30_days": _("Death within 30 days"),
    "death_within_90_days": _("Death within 90 days"),
    "disease": _("Disease (leukaemia / lymphoma)"),
    "crs": _("Cytokine release syndrome"),
    "icans": _("ICANS"),
    "gvhd": _("Graft-versus-host disease"),
    "other": _("Other"),
    "any": _("Any grade"),
    "unrelated": _("Unrelated"),
    "unlikely": _("Unlikely"),
    "possible": _("Possible"),
    "probable": _("Probable"),
    "definite": _("Definite"),
    "yes": _("Yes"),
    "no": _("No"),
}

#: Columns whose values are codes to translate (other values are numbers, dates or CTCAE text).
CODED = {"category", "detail", "population", "unit", "serious", "relationship_lymphodepletion"}


def word(code: str) -> str:
    if code.startswith("infused at "):
        return str(_("Infused at %(level)s") % {"level": code.removeprefix("infused at ")})
    return str(WORDS.get(code, code))


def display_table(table: dict[str, Any]) -> dict[str, Any]:
    """A table with translated title, headers and coded cells, for a page."""
    columns = table["columns"]
    rows = []
    for row in table["rows"]:
        cells = []
        for column in columns:
            value = row.get(column, "")
            if column == "term" and value == "" and "soc" in row:
                value = str(_("All terms"))
            elif column in CODED and isinstance(value, str) and value:
                value = word(value)
            cells.append(value)
        rows.append(cells)
    return {
        "key": table["key"],
        "title": str(TABLE_TITLES.get(table["key"], table["title"])),
        "population": word(table["population"]),
        "headers": [word(c) for c in columns],
        "rows": rows,
    }
