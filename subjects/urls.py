from django.urls import path

from crf import views as crf_views
from subjects import views

app_name = "subjects"
urlpatterns = [
    path("", views.subject_list, name="list"),
    path("new/", views.consent_new, name="consent_new"),
    path("worklist/", views.worklist, name="worklist"),
    path("deviations/", views.deviation_list, name="deviations"),
    path("drafts/", crf_views.save_draft, name="save_draft"),
    path("<int:pk>/", views.subject_detail, name="detail"),
    path("<int:pk>/casebook/", views.casebook, name="casebook"),
    path("<int:pk>/visits/<int:visit_pk>/", views.visit_detail, name="visit"),
    path("<int:pk>/visits/<int:visit_pk>/enter/", views.visit_enter, name="visit_enter"),
    path("<int:pk>/visits/<int:visit_pk>/not-done/", views.visit_not_done, name="visit_not_done"),
    path("<int:pk>/eligibility/new/", views.eligibility_new, name="eligibility_new"),
    path("<int:pk>/lifecycle/<str:action>/", views.lifecycle_action, name="lifecycle"),
    path("<int:pk>/infusion-dose/", views.infusion_live_dose, name="infusion_live_dose"),
    path("<int:pk>/identity/", views.identity_detail, name="identity"),
    path("<int:pk>/identity/edit/", views.identity_edit, name="identity_edit"),
    path("<int:subject_pk>/forms/<str:code>/new/", crf_views.form_entry, name="form_new"),
    path("<int:subject_pk>/forms/<str:code>/<int:pk>/", crf_views.form_entry, name="form_edit"),
]
