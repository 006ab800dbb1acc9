"""Every write of the subjects app, by topic (as the models package): the subject's lifecycle,
consent and identity (`subject`), enrolment at a dose level with its acknowledgement
(`enrolment`), the treatment forms and the day-0 clock (`treatment`), the visits and their
timing (`visits`)."""
