"""Words for the codes in the endpoint tables. The canonical JSON keeps language-neutral codes
(the same bytes whatever the reader's language); pages translate them here. CTCAE terms and
SOCs stay in English (CLINICAL_SPEC §3: no licensed Chinese CTCAE is shipped)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from study import language

TABLE_TITLES = {
    "disposition": _("Subject disposition"),
    "exposure": _("Exposure"),
    "teae_summary": _("Treatment-emergent adverse events, day 0–90: summary"),
    "teae_by_term": _("Treatment-emergent adverse events, day 0–90, by SOC and CTCAE term and maximum grade"),
    "lymphodepletion_aes": _("Adverse events during lymphodepletion (listed apart)"),
    "crs_summary": _("Cytokine release syndrome (ASTCT), day 0–90"),
    "icans_summary": _("ICANS (ASTCT), day 0–90"),
    "icaht": _("Immune effector cell-associated haematotoxicity (ICAHT, EHA/EBMT)"),
    "iec_hs": _("IEC-HS (ASTCT), investigator grade"),
    "gvhd": _("Acute GvHD (MAGIC), maximum overall grade"),
    "dlt_by_dose_level": _("Dose-limiting toxicities by dose level (DLT-evaluable set)"),
    "dlt_candidates": _("DLT candidates and their adjudication"),
    "day28_response": _("Day-28 response"),
    "best_response": _("Best overall response within 1 year"),
    "marrow_response": _("Marrow response within 1 year: remission, MRD, molecular remission, ORR"),
    "relapses": _("Relapse after CR/CRi: sites and blast CD7 status"),
    "hsct": _("Allogeneic HSCT after CAR-T"),
    "os_km": _("Overall survival: Kaplan–Meier estimate (Greenwood, log(−log) 95% CI)"),
    "os_at_risk": _("Overall survival: numbers at risk by month"),
    "os_summary": _("Overall survival: summary (median by the midpoint rule, Brookmeyer–Crowley 95% CI)"),
    "efs_km": _("Event-free survival: Kaplan–Meier estimate (Greenwood, log(−log) 95% CI)"),
    "efs_summary": _("Event-free survival: summary (median by the midpoint rule, Brookmeyer–Crowley 95% CI)"),
    "rfs_km": _("Relapse-free survival: Kaplan–Meier estimate (Greenwood, log(−log) 95% CI)"),
    "rfs_summary": _("Relapse-free survival: summary (median by the midpoint rule, Brookmeyer–Crowley 95% CI)"),
    "dor_km": _("Duration of response: Kaplan–Meier estimate (Greenwood, log(−log) 95% CI)"),
    "dor_summary": _("Duration of response: summary (median by the midpoint rule, Brookmeyer–Crowley 95% CI)"),
    "relapse_cif": _(
        "Cumulative incidence of relapse, non-relapse death competing (Aalen–Johansen, infinitesimal-jackknife "
        "variance, log 95% CI)"
    ),
    "at_risk": _("Numbers at risk of every curve by month"),
    "relapse_cif_summary": _("Cumulative incidence of relapse: summary"),
    "hsct_sensitivity": _("Time to event, sensitivity analysis for HSCT"),
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
    # issue 12: columns
    "time": _("Day"),
    "at_risk": _("At risk"),
    "censored": _("Censored"),
    "survival": _("Survival (%)"),
    "month": _("Month"),
    "day": _("Day"),
    "statistic": _("Statistic"),
    "estimate": _("Estimate"),
    "relapses": _("Relapses"),
    "competing": _("Competing deaths"),
    "incidence": _("Cumulative incidence (%)"),
    "evaluable": _("DLT-evaluable"),
    "in_window": _("In the DLT window"),
    "to_replace": _("To replace"),
    "awaiting": _("Awaiting adjudication"),
    "dlt": _("Confirmed DLT"),
    "decision": _("Decision"),
    "pending": _("Pending adjudication"),
    "criterion": _("Criterion"),
    "onset_day": _("Onset day"),
    "status": _("Status"),
    "evaluability": _("DLT evaluability"),
    # populations
    "infused, flow MRD evaluable": _("Infused, flow MRD evaluable"),
    "infused with a molecular marker": _("Infused, with a molecular marker at baseline"),
    "infused, CR or CRi": _("Infused, reached CR or CRi"),
    "relapsed": _("Relapsed"),
    "infused, HSCT": _("Infused, transplanted"),
    "infused with crs": _("Infused, with CRS"),
    "infused with icans": _("Infused, with ICANS"),
    "episodes": _("Episodes"),
    # response categories
    "cr_mrd_negative": _("CR, MRD negative"),
    "cr_mrd_positive_or_unknown": _("CR, MRD positive or unknown"),
    "cri_mrd_negative": _("CRi, MRD negative"),
    "cri_mrd_positive_or_unknown": _("CRi, MRD positive or unknown"),
    "pr": _("PR"),
    "nr": _("NR"),
    "pd": _("PD or relapse"),
    "not_assessed": _("Not assessed"),
    "morphological_remission": _("Morphological remission (marrow blasts < 5%)"),
    "flow_mrd_negative": _("Flow MRD negative"),
    "of_evaluable": _("Among evaluable results"),
    "flow_mrd_positive": _("Flow MRD positive"),
    "flow_mrd_not_evaluable": _("Flow MRD not evaluable"),
    "flow_mrd_not_tested": _("Flow MRD not tested"),
    "molecular_remission": _("Molecular remission"),
    "not_achieved": _("Not achieved"),
    "not_evaluable": _("Not evaluable"),
    "no_marker": _("No molecular marker at baseline"),
    "orr": _("Overall response rate (CR + CRi)"),
    "day_28": _("Day 28"),
    "best_1_year": _("Best within 1 year"),
    "relapse": _("Relapse"),
    "relapse_site": _("Site of relapse"),
    "marrow": _("Bone marrow"),
    "blood": _("Peripheral blood"),
    "cns": _("CNS"),
    "other_emd": _("Other extramedullary site"),
    "not_recorded": _("Not recorded"),
    "relapse_cd7": _("Blast CD7 status at relapse"),
    "positive": _("CD7-positive"),
    "dim": _("CD7-dim (partial)"),
    "negative": _("CD7-negative"),
    "unknown": _("Not tested"),
    "hsct": _("Allogeneic HSCT"),
    "consolidative_hsct": _("Consolidative HSCT (in remission)"),
    "in_responders": _("Among subjects who reached CR or CRi"),
    "hsct_donor": _("HSCT donor"),
    "matched_sibling": _("Matched sibling"),
    "matched_unrelated": _("Matched unrelated"),
    "mismatched_unrelated": _("Mismatched unrelated"),
    "haploidentical": _("Haploidentical"),
    "cord_blood": _("Cord blood"),
    "hsct_day": _("Day of HSCT"),
    # toxicity categories
    "max_grade": _("Maximum grade"),
    "first_episode": _("First episode"),
    "duration_days": _("Episode duration"),
    "every_episode": _("Every episode"),
    "tocilizumab": _("Tocilizumab"),
    "corticosteroid": _("Corticosteroid"),
    "during_episode": _("Started during an episode"),
    "icaht_early_any": _("Early ICAHT (day 0–30), any grade"),
    "icaht_early_max_grade": _("Early ICAHT (day 0–30), maximum grade"),
    "icaht_early_grade_3_or_higher": _("Early ICAHT (day 0–30), grade ≥ 3"),
    "icaht_early_not_assessed": _("Early ICAHT (day 0–30), no ANC value"),
    "icaht_late_any": _("Late ICAHT (after day 30), any grade"),
    "icaht_late_max_grade": _("Late ICAHT (after day 30), maximum grade"),
    "icaht_late_grade_3_or_higher": _("Late ICAHT (after day 30), grade ≥ 3"),
    "icaht_late_not_assessed": _("Late ICAHT (after day 30), no confirmed values"),
    "grade_I": _("Grade I"),
    "grade_II": _("Grade II"),
    "grade_III": _("Grade III"),
    "grade_IV": _("Grade IV"),
    # survival statistics
    "subjects": _("Subjects"),
    "survival_365": _("Survival at 1 year (%)"),
    "median_days": _("Median (days)"),
    "competing_deaths": _("Non-relapse deaths (competing)"),
    "incidence_365": _("Cumulative incidence at 1 year (%)"),
    "not reached": _("not reached"),
    "beyond follow-up": _("beyond follow-up"),
    "no subjects": _("no subjects"),
    "midpoint-of-flat-step": _("midpoint rule on a flat step at 0.5"),
    "censored at HSCT": _("censored at HSCT"),
    "not censored at HSCT": _("not censored at HSCT"),
    "endpoint": _("Endpoint"),
    "os": _("Overall survival"),
    "efs": _("Event-free survival"),
    "rfs": _("Relapse-free survival"),
    "dor": _("Duration of response"),
    "relapse_cif": _("Cumulative incidence of relapse"),
    # DLT
    "escalate": _("Escalate"),
    "expand_to_6": _("Expand to 6"),
    "above_mtd": _("Above the MTD"),
    "mtd": _("Maximum tolerated dose"),
    "enrolling": _("Enrolling"),
    "expansion_continue": _("Expansion: continue"),
    "expansion_stop": _("Expansion: stop and review"),
    "recommended_dose": _("Recommended dose (MTD)"),
    "cytopenia": _("Grade 4 cytopenia at the day-28 assessment"),
    "other_ae": _("Other AE grade ≥ 3 not back to ≤ 1 within 7 days"),
    "confirmed": _("Confirmed DLT"),
    "rejected": _("Rejected"),
    "under_dosed": _("To replace: under-dosed"),
    "over_dosed": _("To replace: over-dosed"),
    "left_window": _("To replace: left the window early"),
}

#: Columns whose values are codes to translate (other values are numbers, dates or CTCAE text).
CODED = {
    "category",
    "detail",
    "population",
    "unit",
    "serious",
    "relationship_lymphodepletion",
    "statistic",
    "decision",
    "pending",
    "recommended_dose",
    "criterion",
    "status",
    "evaluability",
    "endpoint",
}


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
            elif column == "term" and isinstance(value, str) and value:
                value = language.ctcae_term_label(value)  # its Chinese name beside it for a Chinese reader
            elif column == "soc" and isinstance(value, str) and value:
                value = language.soc_label(value)
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


#: The derived inputs a run records settings versions for (issue 30), as the run page names them.
INPUT_LABELS = {
    "crs_assessments": _("CRS assessments"),
    "crs_episodes": _("CRS episodes"),
    "icans_assessments": _("ICANS assessments"),
    "icans_episodes": _("ICANS episodes"),
    "marrow_assessments": _("Marrow assessments"),
    "mrd_tests": _("MRD tests"),
}


def input_versions(run_version: int | None, found: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The run page's list: each derived input, its rows per settings version, and whether any
    was derived under another version than the run's."""
    rows = []
    order = {name: index for index, name in enumerate(INPUT_LABELS)}
    for name, counts in sorted(found.items(), key=lambda item: order.get(item[0], len(order))):
        rows.append(
            {
                "label": str(INPUT_LABELS.get(name, name)),
                "counts": [(version, count) for version, count in counts.items()],
                "differs": any(version != str(run_version) for version in counts),
            }
        )
    return rows


def rederived_counts(found: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The sensitivity analysis's list (issue 30): each re-derived input, its rows, and how many
    of them got another derived value than the stored one."""
    order = {name: index for index, name in enumerate(INPUT_LABELS)}
    return [
        {"label": str(INPUT_LABELS.get(name, name)), "rows": counts["rows"], "changed": counts["changed"]}
        for name, counts in sorted(found.items(), key=lambda item: order.get(item[0], len(order)))
    ]
