from django.contrib.auth import views as auth_views
from django.urls import path

from study import amendment_views, views

urlpatterns = [
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(template_name="registration/password_change.html"),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_change_done.html"),
        name="password_change_done",
    ),
    path(
        "accounts/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(template_name="registration/set_password.html"),
        name="password_reset_confirm",
    ),
    path(
        "accounts/set-password/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="registration/set_password_done.html"),
        name="password_reset_complete",
    ),
    path("language/", views.choose_language, name="choose_language"),
    path("session/keepalive/", views.keepalive, name="session_keepalive"),
    path("session/status/", views.session_status, name="session_status"),
    path("admin/users/", views.user_list, name="user_list"),
    path("admin/users/invite/", views.invite_user, name="user_invite"),
    path("admin/users/<int:pk>/", views.user_detail, name="user_detail"),
    path("admin/users/<int:pk>/grant/", views.grant_role, name="user_grant_role"),
    path("admin/users/<int:pk>/active/", views.set_active, name="user_set_active"),
    path("admin/users/<int:pk>/unlock/", views.unlock, name="user_unlock"),
    path("admin/users/<int:pk>/revoke-api-tokens/", views.revoke_user_api_tokens, name="user_revoke_api_tokens"),
    path("account/api-tokens/", views.api_tokens, name="api_tokens"),
    path("account/api-tokens/<str:token_key>/revoke/", views.revoke_api_token, name="api_token_revoke"),
    path("admin/memberships/<int:pk>/end/", views.end_role, name="membership_end"),
    path("admin/protocol-settings/", views.protocol_settings, name="protocol_settings"),
    path("admin/names/", views.names, name="study_names"),
    path("admin/protocol-versions/", amendment_views.protocol_versions, name="protocol_versions"),
]
