"""Every write of the safety app, by topic (as the models package): the AE, CRS and ICANS forms
and their courses (`ae_crs_icans`), the DLT candidates and the dose-level monitor (`dlt`), ICAHT
(`icaht`), the safety alerts and their notifications (`alerts`)."""
